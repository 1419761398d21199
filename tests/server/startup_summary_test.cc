// The start log's security and limits line says what the configuration is.
#include "server/startup_summary.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tensorops::server {
namespace {

using ::testing::HasSubstr;

TEST(StartupSummaryTest, DefaultsArePlaintextWithoutTokensOrSharedMemory) {
  const std::string line = DescribeSecurityAndLimits(ServerConfig{});
  EXPECT_THAT(line, HasSubstr("security: TLS off (plaintext), bearer tokens "
                              "off; shared memory off; limits: "));
  EXPECT_THAT(line, HasSubstr("--max_message_bytes=600 MiB "));
  EXPECT_THAT(line, HasSubstr("--max_inflight_requests=256 "));
  EXPECT_THAT(line, HasSubstr("--session_cache_bytes=1 GiB "));
  EXPECT_THAT(line, HasSubstr("--session_ttl=10m "));
}

TEST(StartupSummaryTest, NamesMutualTlsTokensSharedMemoryAndOddSizes) {
  ServerConfig config;
  config.tls_cert_file = "server.pem";
  config.tls_key_file = "server.key";
  config.tls_client_ca_file = "ca.pem";
  config.auth_tokens_file = "tokens";
  config.allow_shared_memory = true;
  config.max_message_bytes = 12345;
  config.max_connection_age = absl::InfiniteDuration();
  const std::string line = DescribeSecurityAndLimits(config);
  EXPECT_THAT(line, HasSubstr("security: TLS on (client certificates "
                              "required), bearer tokens on; shared memory on"));
  EXPECT_THAT(line, HasSubstr("--max_message_bytes=12345 bytes "));
  EXPECT_THAT(line, HasSubstr("--max_connection_age=never"));
  config.tls_client_ca_file.clear();
  EXPECT_THAT(DescribeSecurityAndLimits(config),
              HasSubstr("security: TLS on, bearer tokens on"));
}

}  // namespace
}  // namespace tensorops::server
