// The start log's account of how the server is set up: the line an operator
// reads to confirm security and limits without reading the command line.
#ifndef TENSOROPS_SERVER_STARTUP_SUMMARY_H_
#define TENSOROPS_SERVER_STARTUP_SUMMARY_H_

#include <string>

#include "server/server_config.h"

namespace tensorops::server {

// "security: TLS on (client certificates required), bearer tokens on;
// shared memory off; limits: ...": TLS, mutual TLS, tokens, shared memory
// and every limit, in flag names and readable units.
std::string DescribeSecurityAndLimits(const ServerConfig& config);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_STARTUP_SUMMARY_H_
