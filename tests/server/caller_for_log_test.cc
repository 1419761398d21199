// How logs name a caller: never by its token.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/caller_identity.h"

namespace tensorops::server {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

TEST(CallerForLogTest, AnonymousAndCertificatesAsTheyAre) {
  EXPECT_EQ(CallerForLog(""), "anonymous");
  EXPECT_EQ(CallerForLog("x509:dns:9:alice.lab;"), "x509:dns:9:alice.lab;");
}

TEST(CallerForLogTest, ATokenIsAStableHashNeverTheToken) {
  const std::string alice = CallerForLog("token:alice-secret");
  EXPECT_THAT(alice, MatchesRegex("token#[0-9a-f]{8}"));
  EXPECT_THAT(alice, Not(HasSubstr("alice")));
  EXPECT_EQ(CallerForLog("token:alice-secret"), alice);
  EXPECT_NE(CallerForLog("token:bob-secret"), alice);
}

}  // namespace
}  // namespace tensorops::server
