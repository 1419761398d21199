#include "server/bearer_tokens.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace tensorops::server {
namespace {

using ::testing::HasSubstr;
using testing::IsOk;
using testing::StatusIs;

class BearerTokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TEST_TMPDIR");
    path_ =
        std::filesystem::path(base != nullptr ? base : "/tmp") /
        absl::StrCat(
            "tensorops-bearer-", ::getpid(), "-",
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { std::filesystem::remove(path_); }

  void Write(const std::string& text) {
    std::ofstream(path_, std::ios::trunc) << text;
  }

  absl::StatusOr<std::unique_ptr<BearerTokens>> Load() {
    return BearerTokens::Load(
        {.path = path_.string(),
         .check_interval = absl::Seconds(1),
         .clock = [this] { return now_; },
         .log = [this](absl::string_view m) { logged_.emplace_back(m); }});
  }

  std::filesystem::path path_;
  absl::Time now_ = absl::UnixEpoch();
  std::vector<std::string> logged_;
};

constexpr char kFirst[] = "first-token-0123456789";
constexpr char kSecond[] = "second-token-0123456789";

TEST_F(BearerTokensTest, ReadsOneTokenPerLineSkippingCommentsAndBlanks) {
  Write(absl::StrCat("# ops team\n\n  ", kFirst, "  \r\n", kSecond));
  absl::StatusOr<std::unique_ptr<BearerTokens>> tokens = Load();
  ASSERT_THAT(tokens, IsOk());
  EXPECT_EQ((*tokens)->size(), 2u);
  EXPECT_TRUE((*tokens)->Accepts(kFirst));
  EXPECT_TRUE((*tokens)->Accepts(kSecond));
  EXPECT_FALSE((*tokens)->Accepts(""));
  EXPECT_FALSE((*tokens)->Accepts("first-token-012345678"));    // a prefix
  EXPECT_FALSE((*tokens)->Accepts("first-token-01234567890"));  // longer
  EXPECT_FALSE((*tokens)->Accepts("# ops team"));
}

TEST_F(BearerTokensTest, RefusesFilesThatWouldLockOutOrWeakenAuth) {
  for (const std::string& text :
       {std::string(""), std::string("# only a comment\n"),
        std::string("short\n"), absl::StrCat(kFirst, " trailing words\n"),
        std::string(5000, 'x')}) {
    Write(text);
    EXPECT_THAT(Load(), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("--auth_tokens_file")))
        << text;
  }
  std::filesystem::remove(path_);
  EXPECT_THAT(Load(), StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("cannot stat")));
}

TEST_F(BearerTokensTest, ReloadsAChangedFileAtMostOncePerInterval) {
  Write(kFirst);
  absl::StatusOr<std::unique_ptr<BearerTokens>> tokens = Load();
  ASSERT_THAT(tokens, IsOk());
  Write(absl::StrCat(kSecond, "\n"));
  // Within the interval the file is not looked at.
  now_ += absl::Milliseconds(500);
  EXPECT_TRUE((*tokens)->Accepts(kFirst));
  EXPECT_FALSE((*tokens)->Accepts(kSecond));
  now_ += absl::Seconds(1);
  EXPECT_TRUE((*tokens)->Accepts(kSecond));
  EXPECT_FALSE((*tokens)->Accepts(kFirst));
  EXPECT_THAT(logged_, ::testing::Contains(HasSubstr("reloaded: 1 tokens")));
}

TEST_F(BearerTokensTest, ABrokenEditKeepsThePreviousTokens) {
  Write(kFirst);
  absl::StatusOr<std::unique_ptr<BearerTokens>> tokens = Load();
  ASSERT_THAT(tokens, IsOk());
  Write("# emptied by mistake\n");
  now_ += absl::Seconds(2);
  EXPECT_TRUE((*tokens)->Accepts(kFirst));
  EXPECT_THAT(logged_, ::testing::Contains(HasSubstr("keeping the 1 tokens")));
  std::filesystem::remove(path_);
  now_ += absl::Seconds(2);
  EXPECT_TRUE((*tokens)->Accepts(kFirst));
  // A fixed file is picked up again.
  Write(kSecond);
  now_ += absl::Seconds(2);
  EXPECT_TRUE((*tokens)->Accepts(kSecond));
  EXPECT_FALSE((*tokens)->Accepts(kFirst));
}

}  // namespace
}  // namespace tensorops::server
