#include "client/cli/args.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace tensorops::client {
namespace {

using ::tensorops::testing::IsOk;
using ::tensorops::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

const std::vector<OptionSpec> kSpecs = {
    {"k", true}, {"dim", true}, {"smallest", false}};

TEST(ParseArgsTest, TakesBothValueFormsFlagsAndPositionals) {
  const std::vector<std::string> args = {"topk",  "[1, 2]", "--k=2",
                                         "--dim", "-1",     "--smallest"};
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(args, kSpecs);
  ASSERT_THAT(parsed.status(), IsOk());
  EXPECT_THAT(parsed->positional, ElementsAre("topk", "[1, 2]"));
  EXPECT_THAT(parsed->Get("k"), Optional(std::string("2")));
  EXPECT_THAT(parsed->Get("dim"), Optional(std::string("-1")));
  EXPECT_TRUE(parsed->Has("smallest"));
  EXPECT_FALSE(parsed->Get("missing").has_value());
}

TEST(ParseArgsTest, DoubleDashEndsOptions) {
  const std::vector<std::string> args = {"print", "--", "--k"};
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(args, kSpecs);
  ASSERT_THAT(parsed.status(), IsOk());
  EXPECT_THAT(parsed->positional, ElementsAre("print", "--k"));
  EXPECT_FALSE(parsed->Has("k"));
}

TEST(ParseArgsTest, RejectsMistakes) {
  const std::vector<std::vector<std::string>> cases = {
      {"--bogus"}, {"--k"}, {"--smallest=yes"}, {"--k=1", "--k=2"}};
  const char* messages[] = {"unknown option --bogus", "needs a value",
                            "takes no value", "given twice"};
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_THAT(
        ParseArgs(cases[i], kSpecs).status(),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(messages[i])));
  }
}

}  // namespace
}  // namespace tensorops::client
