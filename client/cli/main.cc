// tensorops: calls a tensorops server from the shell. See `tensorops --help`.
#include <iostream>
#include <string>
#include <vector>

#include "client/cli/cli.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return tensorops::client::RunCli(args, std::cout, std::cerr);
}
