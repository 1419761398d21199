// The `tensorops` tool: the real binary against a real tensorops-server for
// the examples and exit codes, and the in-process RunCli for the
// output formats.
#include "client/cli/cli.h"

#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cli/npy.h"
#include "client/tensor_ops_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/subprocess.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops::client {
namespace {

using ::tensorops::client::testing::ProcessResult;
using ::tensorops::client::testing::RunProcess;
using ::tensorops::client::testing::ServerProcess;
using ::tensorops::testing::IsOk;
using ::tensorops::testing::MakeTensor;
using ::tensorops::testing::Values;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(TENSOROPS_SERVER_BINARY);
    ASSERT_THAT(server.status(), IsOk());
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  // The binary, with --address pointing at the test server.
  static ProcessResult Tensorops(std::vector<std::string> args) {
    args.insert(args.begin(), TENSOROPS_CLI_BINARY);
    args.push_back(absl::StrCat("--address=", server_->address()));
    return RunProcess(args);
  }

  // RunCli in this process.
  struct InProcessResult {
    int exit_code;
    std::string out;
    std::string err;
  };
  static InProcessResult RunInProcess(std::vector<std::string> args) {
    args.push_back(absl::StrCat("--address=", server_->address()));
    std::ostringstream out;
    std::ostringstream err;
    const int exit_code = RunCli(args, out, err);
    return {exit_code, out.str(), err.str()};
  }

  static ServerProcess* server_;
};

ServerProcess* CliTest::server_ = nullptr;

TEST_F(CliTest, ZerosLikeSeedExample) {
  const ProcessResult result = Tensorops({"zeros-like", "[[1,2,3],[4,5,6]]"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "tensor([[0, 0, 0],\n        [0, 0, 0]])\n");
  EXPECT_THAT(result.err, IsEmpty());
}

TEST_F(CliTest, TopKSeedExample) {
  const ProcessResult result = Tensorops({"topk", "[3.,1.,4.,2.]", "--k", "2"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out,
            "torch.return_types.topk(\nvalues=tensor([4., 3.]),\n"
            "indices=tensor([2, 0]))\n");
  EXPECT_THAT(result.err, IsEmpty());
}

TEST_F(CliTest, TopKThroughSharedMemoryPrintsWhatTheInlineCallDoes) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(TENSOROPS_SERVER_BINARY, {"--allow_shared_memory"});
  ASSERT_THAT(server.status(), IsOk());
  const std::string address = absl::StrCat("--address=", (*server)->address());
  const std::string input = "[[3.,1.,4.,1.,5.],[9.,2.,6.,5.,3.]]";
  for (const std::vector<std::string>& options :
       {std::vector<std::string>{"--k=2"},
        std::vector<std::string>{"--k=2", "--dim=0", "--smallest"},
        std::vector<std::string>{"--k=2", "--unsorted", "--output=json"}}) {
    std::vector<std::string> inline_args = {TENSOROPS_CLI_BINARY, "topk", input,
                                            address};
    inline_args.insert(inline_args.end(), options.begin(), options.end());
    std::vector<std::string> shm_args = inline_args;
    shm_args.push_back("--shared-memory");
    const ProcessResult expected = RunProcess(inline_args);
    const ProcessResult result = RunProcess(shm_args);
    EXPECT_EQ(expected.exit_code, 0) << expected.err;
    EXPECT_EQ(result.exit_code, expected.exit_code) << result.err;
    EXPECT_EQ(result.out, expected.out);
    EXPECT_THAT(result.err, IsEmpty());
  }
  // A bad k fails as inline, with the server's message.
  const ProcessResult bad = RunProcess({TENSOROPS_CLI_BINARY, "topk", input,
                                        address, "--k=9", "--shared-memory"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("INVALID_ARGUMENT"));
}

TEST_F(CliTest, SharedMemoryNeedsAServerThatAllowsIt) {
  const ProcessResult result =
      Tensorops({"topk", "[3.,1.,4.]", "--k=1", "--shared-memory"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("--allow_shared_memory"));
}

TEST_F(CliTest, BackwardSeedExampleThroughASession) {
  const ProcessResult top =
      Tensorops({"topk", "[3.,1.,4.,2.]", "--k=2", "--save"});
  ASSERT_EQ(top.exit_code, 0) << top.err;
  const size_t at = top.out.find("session_id=");
  ASSERT_NE(at, std::string::npos) << top.out;
  const std::string session =
      top.out.substr(at + 11, top.out.find('\n', at) - at - 11);
  ASSERT_THAT(session, MatchesRegex("[A-Za-z0-9_-]+"));

  const ProcessResult backward =
      Tensorops({"backward", "[0.1,0.2]", "--session", session});
  EXPECT_EQ(backward.exit_code, 0) << backward.err;
  EXPECT_EQ(backward.out, "tensor([0.2000, 0.0000, 0.1000, 0.0000])\n");

  // The backward consumed the session.
  const ProcessResult again =
      Tensorops({"backward", "[0.1,0.2]", "--session", session});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, StartsWith("tensorops: FAILED_PRECONDITION: "));
  EXPECT_THAT(again.out, IsEmpty());
}

TEST_F(CliTest, BackwardSeedExampleStateless) {
  const ProcessResult result = Tensorops(
      {"backward", "[0.1,0.2]", "--indices", "[2,0]", "--input-shape", "[4]"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "tensor([0.2000, 0.0000, 0.1000, 0.0000])\n");
}

TEST_F(CliTest, ReleaseFreesASessionOnce) {
  const InProcessResult top =
      RunInProcess({"topk", "[1, 2]", "--k=1", "--save", "--output=json"});
  ASSERT_EQ(top.exit_code, 0) << top.err;
  const size_t at = top.out.find("\"session_id\": \"");
  ASSERT_NE(at, std::string::npos);
  const std::string session =
      top.out.substr(at + 15, top.out.find('"', at + 15) - at - 15);
  EXPECT_EQ(Tensorops({"release", session}).exit_code, 0);
  const ProcessResult again = Tensorops({"release", session});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, StartsWith("tensorops: NOT_FOUND: "));
}

// stderr carries the server's own code and message (as the client library
// receives it), and the exit code is 1.
TEST_F(CliTest, ServerErrorsPrintTheServersMessage) {
  const ProcessResult result = Tensorops({"topk", "[3.,1.,4.,2.]", "--k=5"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, IsEmpty());
  auto client = TensorOpsClient::Connect(server_->address());
  const absl::Status expected =
      client
          ->TopK(MakeTensor<float>(DType::kFloat32, {4}, {3, 1, 4, 2}),
                 {.k = 5})
          .status();
  ASSERT_EQ(expected.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      result.err,
      absl::StrCat("tensorops: INVALID_ARGUMENT: ", expected.message(), "\n"));
}

TEST_F(CliTest, HealthPrintsServing) {
  const ProcessResult result = Tensorops({"health"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "SERVING\n");
}

TEST_F(CliTest, CommandLineMistakesExitWithTwo) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"bogus"},
           {"topk", "[1]"},  // no --k
           {"topk", "[1]", "--k=1", "--session=x"},
           {"zeros-like"},
           {"zeros-like", "[1]", "--output=xml"},
           {"ones-like", "[1]", "--result-dtype=bogus"},
           {"backward", "[1.]"},
           {"--timeout=-1", "health"}}) {
    const ProcessResult result = Tensorops(args);
    EXPECT_EQ(result.exit_code, 2) << args[0];
    EXPECT_THAT(result.err, HasSubstr("see tensorops --help")) << args[0];
  }
}

TEST_F(CliTest, TensoropsAddressIsTheDefaultAddress) {
  const ProcessResult result = RunProcess(
      {"/usr/bin/env", absl::StrCat("TENSOROPS_ADDRESS=", server_->address()),
       TENSOROPS_CLI_BINARY, "health"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "SERVING\n");
}

TEST_F(CliTest, AnAddressWithoutAPortIsAMistake) {
  const ProcessResult flag =
      RunProcess({TENSOROPS_CLI_BINARY, "health", "--address=localhost"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_THAT(flag.err, HasSubstr("--address is 'localhost', which names no "
                                  "port; expected HOST:PORT"));
  const ProcessResult env =
      RunProcess({"/usr/bin/env", "TENSOROPS_ADDRESS=dns:///localhost",
                  TENSOROPS_CLI_BINARY, "health"});
  EXPECT_EQ(env.exit_code, 2);
  EXPECT_THAT(env.err, HasSubstr("TENSOROPS_ADDRESS is 'dns:///localhost'"));
}

TEST_F(CliTest, LocalFileErrorsCarryNoGrpcCode) {
  const ProcessResult read =
      RunProcess({TENSOROPS_CLI_BINARY, "print", "/nonexistent/in.npy"});
  EXPECT_EQ(read.exit_code, 1);
  EXPECT_EQ(read.err,
            "tensorops: cannot open /nonexistent/in.npy: No such file or "
            "directory\n");
  const ProcessResult write = RunProcess({TENSOROPS_CLI_BINARY, "print", "[1]",
                                          "--output=npy:/nonexistent/o.npy"});
  EXPECT_EQ(write.exit_code, 1);
  EXPECT_EQ(write.err,
            "tensorops: cannot write /nonexistent/o.npy: No such file or "
            "directory\n");
}

TEST_F(CliTest, ADashReadsTheTensorFromStandardInput) {
  const ProcessResult literal = RunProcess(
      {"/bin/sh", "-c",
       absl::StrCat("echo '[[3, 1], [4, 2]]' | ", TENSOROPS_CLI_BINARY,
                    " topk - --k=1 --address=", server_->address())});
  EXPECT_EQ(literal.exit_code, 0) << literal.err;
  EXPECT_EQ(literal.out,
            "torch.return_types.topk(\nvalues=tensor([[3],\n        [4]]),\n"
            "indices=tensor([[0],\n        [0]]))\n");
  const ProcessResult npy = RunProcess(
      {"/bin/sh", "-c",
       absl::StrCat(TENSOROPS_CLI_BINARY, " print '[1.5, 2]' --output=npy:",
                    ::testing::TempDir(), "/dash.npy && ", TENSOROPS_CLI_BINARY,
                    " print - < ", ::testing::TempDir(), "/dash.npy")});
  EXPECT_EQ(npy.exit_code, 0) << npy.err;
  EXPECT_EQ(npy.out, "tensor([1.5000, 2.0000])\n");
}

TEST_F(CliTest, BadTensorTextExitsWithOneAndSaysWhere) {
  const ProcessResult result = Tensorops({"zeros-like", "[[1, 2], [3]]"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, StartsWith("tensorops: INVALID_ARGUMENT: cannot "
                                     "parse tensor: expected a list of length "
                                     "2"));
}

TEST_F(CliTest, UnreachableServerIsUnavailable) {
  const ProcessResult result =
      RunProcess({TENSOROPS_CLI_BINARY, "health", "--address=127.0.0.1:1",
                  "--timeout=5s"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, StartsWith("tensorops: UNAVAILABLE: "));
}

TEST_F(CliTest, DTypeOptionsChooseInputAndResultDTypes) {
  const InProcessResult result = RunInProcess(
      {"ones-like", "[1, 2]", "--dtype=int8", "--result-dtype=float64"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "tensor([1., 1.], dtype=torch.float64)\n");
  const InProcessResult bf16 = RunInProcess(
      {"topk", "[0.1, 0.3, 0.2]", "--k=2", "--dtype=bfloat16", "--smallest"});
  EXPECT_EQ(bf16.exit_code, 0) << bf16.err;
  EXPECT_EQ(bf16.out,
            "torch.return_types.topk(\nvalues=tensor([0.1001, 0.2002], "
            "dtype=torch.bfloat16),\nindices=tensor([0, 2]))\n");
}

TEST_F(CliTest, JsonOutput) {
  const InProcessResult result = RunInProcess(
      {"topk", "[[1, 5, 3], [4, 2, 6]]", "--k=1", "--dim=0", "--output=json"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out,
            "{\"values\": {\"dtype\": \"int64\", \"shape\": [1, 3], \"data\": "
            "[[4, 5, 6]]}, \"indices\": {\"dtype\": \"int64\", \"shape\": [1, "
            "3], \"data\": [[1, 0, 1]]}}\n");
}

TEST_F(CliTest, NpyInputAndOutput) {
  const std::string dir = ::testing::TempDir();
  const std::string input = dir + "/cli_test_input.npy";
  ASSERT_THAT(WriteNpyFile(input, MakeTensor<double>(DType::kFloat64, {2, 2},
                                                     {1.5, -2, 8, 0.25})),
              IsOk());
  const std::string values = dir + "/cli_test_values.npy";
  const std::string indices = dir + "/cli_test_indices.npy";
  const InProcessResult result =
      RunInProcess({"topk", input, "--k=1",
                    absl::StrCat("--output=npy:", values, ",", indices)});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, IsEmpty());
  absl::StatusOr<Tensor> read_values = ReadNpyFile(values);
  absl::StatusOr<Tensor> read_indices = ReadNpyFile(indices);
  ASSERT_THAT(read_values.status(), IsOk());
  ASSERT_THAT(read_indices.status(), IsOk());
  EXPECT_EQ(read_values->dtype(), DType::kFloat64);
  EXPECT_THAT(Values<double>(*read_values), ElementsAre(1.5, 8));
  EXPECT_THAT(Values<int64_t>(*read_indices), ElementsAre(0, 0));

  const InProcessResult one_path =
      RunInProcess({"topk", input, "--k=1", "--output=npy:" + values});
  EXPECT_EQ(one_path.exit_code, 1);
  EXPECT_THAT(one_path.err, HasSubstr("npy:VALUES.npy,INDICES.npy"));
}

TEST_F(CliTest, PrintNeedsNoServer) {
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(
      RunCli({"print", "[[1e-5, 2.5]]", "--address=127.0.0.1:1"}, out, err), 0);
  EXPECT_EQ(out.str(), "tensor([[1.0000e-05, 2.5000e+00]])\n");
}

}  // namespace
}  // namespace tensorops::client
