// The one wording of "a required field is not set".
#ifndef TENSOROPS_REQUEST_MISSING_FIELD_H_
#define TENSOROPS_REQUEST_MISSING_FIELD_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tensorops::request {

// INVALID_ARGUMENT: "<field> is not set; expected <want>".
inline absl::Status MissingField(absl::string_view field,
                                 absl::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is not set; expected ", want));
}

}  // namespace tensorops::request

#endif  // TENSOROPS_REQUEST_MISSING_FIELD_H_
