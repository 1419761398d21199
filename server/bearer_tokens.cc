#include "server/bearer_tokens.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tensorops::server {
namespace {

constexpr size_t kMinTokenLength = 16;
constexpr size_t kMaxTokenLength = 4096;

// Equal contents, in time that depends only on the lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return difference == 0;
}

absl::Status CheckToken(absl::string_view token, int line) {
  const bool printable = std::all_of(
      token.begin(), token.end(), [](char c) { return c > ' ' && c < 0x7f; });
  if (printable && token.size() >= kMinTokenLength &&
      token.size() <= kMaxTokenLength) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "line ", line, " holds a token of ", token.size(),
      " characters; expected ", kMinTokenLength, " to ", kMaxTokenLength,
      " printable ASCII characters without spaces"));
}

}  // namespace

bool BearerTokens::FileVersion::operator==(const FileVersion& other) const {
  return modified.tv_sec == other.modified.tv_sec &&
         modified.tv_nsec == other.modified.tv_nsec && size == other.size;
}

BearerTokens::BearerTokens(Options options) : options_(std::move(options)) {}

absl::StatusOr<BearerTokens::FileVersion> BearerTokens::VersionOf(
    const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--auth_tokens_file ", path, ": cannot stat: ", std::strerror(errno)));
  }
  return FileVersion{.modified = info.st_mtim, .size = info.st_size};
}

absl::StatusOr<BearerTokens::Parsed> BearerTokens::ReadFile(
    const std::string& path) {
  Parsed parsed;
  absl::StatusOr<FileVersion> version = VersionOf(path);
  if (!version.ok()) return version.status();
  parsed.version = *version;
  std::ifstream file(path);
  if (!file) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--auth_tokens_file ", path, ": cannot open: ", std::strerror(errno)));
  }
  std::stringstream contents;
  contents << file.rdbuf();
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents.str(), '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    if (absl::Status status = CheckToken(line, line_number); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--auth_tokens_file ", path, ": ", status.message()));
    }
    parsed.tokens.emplace_back(line);
  }
  if (parsed.tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--auth_tokens_file ", path,
        " holds no token; expected one token per line (every call would be "
        "refused)"));
  }
  return parsed;
}

absl::StatusOr<std::unique_ptr<BearerTokens>> BearerTokens::Load(
    Options options) {
  absl::StatusOr<Parsed> parsed = ReadFile(options.path);
  if (!parsed.ok()) return parsed.status();
  std::unique_ptr<BearerTokens> tokens(new BearerTokens(std::move(options)));
  absl::MutexLock lock(&tokens->mutex_);
  tokens->tokens_ = std::move(parsed->tokens);
  tokens->version_ = parsed->version;
  tokens->next_check_ns_.store(
      absl::ToUnixNanos(tokens->Now() + tokens->options_.check_interval));
  return tokens;
}

absl::Time BearerTokens::Now() const {
  if (options_.clock) return options_.clock();
  return absl::UnixEpoch() +
         absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

void BearerTokens::MaybeReload() {
  const absl::Time now = Now();
  int64_t due = next_check_ns_.load(std::memory_order_relaxed);
  if (absl::ToUnixNanos(now) < due ||
      !next_check_ns_.compare_exchange_strong(
          due, absl::ToUnixNanos(now + options_.check_interval))) {
    return;
  }
  FileVersion known;
  {
    absl::ReaderMutexLock lock(&mutex_);
    known = version_;
  }
  // The file is read outside the lock; callers meanwhile use the old set.
  // A missing file reads as a version of its own, so its loss is reported.
  const FileVersion current = VersionOf(options_.path).value_or(FileVersion{});
  if (current == known) return;
  absl::StatusOr<Parsed> parsed = ReadFile(options_.path);
  absl::MutexLock lock(&mutex_);
  // Remember the version even when it is bad, so it is reported once.
  version_ = current;
  if (!parsed.ok()) {
    if (options_.log) {
      options_.log(absl::StrCat(parsed.status().message(), "; keeping the ",
                                tokens_.size(), " tokens loaded before"));
    }
    return;
  }
  version_ = parsed->version;
  tokens_ = std::move(parsed->tokens);
  if (options_.log) {
    options_.log(absl::StrCat("--auth_tokens_file ", options_.path,
                              " reloaded: ", tokens_.size(), " tokens"));
  }
}

bool BearerTokens::Accepts(absl::string_view token) {
  MaybeReload();
  absl::ReaderMutexLock lock(&mutex_);
  bool accepted = false;
  for (const std::string& known : tokens_) {
    accepted |= ConstantTimeEquals(token, known);
  }
  return accepted;
}

size_t BearerTokens::size() {
  MaybeReload();
  absl::ReaderMutexLock lock(&mutex_);
  return tokens_.size();
}

}  // namespace tensorops::server
