// Checks the CLI's text conversions against PyTorch itself: the expected
// answers are computed at test time by torch_oracle_cases.py under
// /usr/bin/python3 with python3-torch (skipped if that is missing).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "client/cli/tensor_literal.h"
#include "client/cli/torch_format.h"
#include "core/dtype.h"
#include "core/half_float.h"
#include "core/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tensorops::client {
namespace {

struct OracleCases {
  bool torch_missing = false;
  std::string error;  // the generator failed although torch is there
  std::vector<std::vector<std::string>> print, literal, convert;
};

bool TorchAvailable() {
  const std::string command =
      absl::StrCat(TENSOROPS_PYTHON3, " -c 'import torch' >/dev/null 2>&1");
  return std::system(command.c_str()) == 0;
}

// Runs the generator once.
const OracleCases& LoadCases() {
  static const OracleCases* const cases = [] {
    auto* result = new OracleCases;
    if (!TorchAvailable()) {
      result->torch_missing = true;
      return result;
    }
    const std::string command = absl::StrCat(
        TENSOROPS_PYTHON3, " ", TENSOROPS_TORCH_ORACLE_SCRIPT, " 2>&1");
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
      result->error = "popen failed";
      return result;
    }
    std::string output;
    char buffer[65536];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
      output.append(buffer, n);
    }
    if (pclose(pipe) != 0) {
      result->error = absl::StrCat(command, " failed:\n", output);
      return result;
    }
    for (absl::string_view line :
         absl::StrSplit(output, '\n', absl::SkipEmpty())) {
      std::vector<std::string> fields = absl::StrSplit(line, '\t');
      if (fields[0] == "print") result->print.push_back(fields);
      if (fields[0] == "literal") result->literal.push_back(fields);
      if (fields[0] == "convert") result->convert.push_back(fields);
    }
    return result;
  }();
  return *cases;
}

Shape ParseShapeField(absl::string_view text) {
  Shape shape;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t dim = 0;
    EXPECT_TRUE(absl::SimpleAtoi(part, &dim)) << text;
    shape.push_back(dim);
  }
  return shape;
}

Tensor TensorFromFields(absl::string_view dtype_name, absl::string_view shape,
                        absl::string_view hex) {
  const std::string bytes = absl::HexStringToBytes(hex);
  absl::StatusOr<Tensor> tensor = Tensor::CopyOf(
      DTypeFromName(dtype_name).value(), ParseShapeField(shape),
      absl::MakeConstSpan(reinterpret_cast<const std::byte*>(bytes.data()),
                          bytes.size()));
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return *tensor;
}

std::string Unescape(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      out += text[i + 1] == 'n' ? '\n' : text[i + 1];
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

void CheckPrinting() {
  ASSERT_GE(LoadCases().print.size(), 300u);
  int failures = 0;
  for (const std::vector<std::string>& fields : LoadCases().print) {
    ASSERT_EQ(fields.size(), 5u);
    const Tensor tensor = TensorFromFields(fields[1], fields[2], fields[3]);
    const std::string expected = Unescape(fields[4]);
    const std::string actual = FormatLikeTorch(tensor);
    if (actual != expected && ++failures <= 10) {
      ADD_FAILURE() << "dtype " << fields[1] << " shape [" << fields[2]
                    << "]\nexpected:\n"
                    << expected << "\nactual:\n"
                    << actual;
    }
  }
  EXPECT_EQ(failures, 0);
}

void CheckLiterals() {
  ASSERT_GE(LoadCases().literal.size(), 20u);
  for (const std::vector<std::string>& fields : LoadCases().literal) {
    ASSERT_EQ(fields.size(), 6u);
    std::optional<DType> dtype;
    if (fields[1] != "-") dtype = DTypeFromName(fields[1]);
    absl::StatusOr<Tensor> parsed = ParseTensorLiteral(fields[2], dtype);
    ASSERT_TRUE(parsed.ok()) << fields[2] << ": " << parsed.status();
    const Tensor expected = TensorFromFields(fields[3], fields[4], fields[5]);
    EXPECT_EQ(parsed->dtype(), expected.dtype()) << fields[2];
    EXPECT_EQ(parsed->shape(), expected.shape()) << fields[2];
    EXPECT_EQ(absl::BytesToHexString(absl::string_view(
                  reinterpret_cast<const char*>(parsed->data()),
                  parsed->byte_size())),
              fields[5])
        << fields[2] << " as " << fields[1];
  }
}

void CheckHalfConversions() {
  ASSERT_GE(LoadCases().convert.size(), 1000u);
  for (const std::vector<std::string>& fields : LoadCases().convert) {
    ASSERT_EQ(fields.size(), 4u);
    uint32_t bits = 0;
    uint32_t half = 0;
    uint32_t bf16 = 0;
    ASSERT_TRUE(absl::SimpleHexAtoi(fields[1], &bits));
    ASSERT_TRUE(absl::SimpleHexAtoi(fields[2], &half));
    ASSERT_TRUE(absl::SimpleHexAtoi(fields[3], &bf16));
    float value;
    std::memcpy(&value, &bits, sizeof(value));
    EXPECT_EQ(FloatToHalf(value), half) << "float bits " << fields[1];
    EXPECT_EQ(FloatToBFloat16(value), bf16) << "float bits " << fields[1];
  }
}

// One test, so the generator (and its torch import) runs once.
TEST(TorchOracleTest, MatchesWhatTorchPrintsBuildsAndRounds) {
  if (LoadCases().torch_missing) {
    GTEST_SKIP() << TENSOROPS_PYTHON3 << " cannot import torch";
  }
  ASSERT_EQ(LoadCases().error, "");
  {
    SCOPED_TRACE("FormatLikeTorch vs repr(tensor)");
    CheckPrinting();
  }
  {
    SCOPED_TRACE("ParseTensorLiteral vs torch.tensor");
    CheckLiterals();
  }
  {
    SCOPED_TRACE("FloatToHalf/FloatToBFloat16 vs Tensor.to");
    CheckHalfConversions();
  }
}

}  // namespace
}  // namespace tensorops::client
