// Status propagation helpers in the style of tensorstore/abseil internals.
#ifndef TENSOROPS_CORE_STATUS_MACROS_H_
#define TENSOROPS_CORE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// if it is not OK.
#define TENSOROPS_RETURN_IF_ERROR(expr)                               \
  do {                                                                \
    if (absl::Status _status = (expr); !_status.ok()) return _status; \
  } while (false)

#define TENSOROPS_STATUS_CONCAT_INNER_(a, b) a##b
#define TENSOROPS_STATUS_CONCAT_(a, b) TENSOROPS_STATUS_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status,
// otherwise moves the value into `lhs` (which may be a declaration).
#define TENSOROPS_ASSIGN_OR_RETURN(lhs, rexpr) \
  TENSOROPS_ASSIGN_OR_RETURN_IMPL_(            \
      TENSOROPS_STATUS_CONCAT_(_status_or_value, __LINE__), lhs, rexpr)

#define TENSOROPS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                     \
  if (!statusor.ok()) return std::move(statusor).status();     \
  lhs = *std::move(statusor)

#endif  // TENSOROPS_CORE_STATUS_MACROS_H_
