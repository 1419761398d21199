// NumPy's .npy file format (versions 1.0, 2.0 and 3.0), little-endian,
// C order. See numpy/lib/format.py.
//
// dtypes: float32 '<f4', float64 '<f8', float16 '<f2', int8 '|i1',
// int16 '<i2', int32 '<i4', int64 '<i8', uint8 '|u1', bool '|b1'.
// bfloat16 has no NumPy dtype: it is written as '|V2' (two raw bytes per
// element, the upper half of a float32), and '|V2' or '<V2' reads back as
// bfloat16. In NumPy, arr.view('<u2') gives the bits and
// torch.from_numpy(arr.view(np.int16)).view(torch.bfloat16) the tensor.
#ifndef TENSOROPS_CLIENT_CLI_NPY_H_
#define TENSOROPS_CLIENT_CLI_NPY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"

namespace tensorops::client {

// What every .npy file begins with.
inline constexpr absl::string_view kNpyMagic = "\x93NUMPY";

// The tensor in `bytes` (a whole .npy file). INVALID_ARGUMENT for anything
// else: bad magic, a header that does not parse, Fortran order, big-endian
// or unsupported dtypes, or data of the wrong size.
absl::StatusOr<Tensor> DecodeNpy(absl::string_view bytes);

// A .npy file holding `tensor`: version 1.0 unless the header needs 2.0;
// the header is padded so the data starts at a multiple of 64 bytes.
std::string EncodeNpy(const Tensor& tensor);
// The same file's header alone: the tensor's bytes follow it.
std::string EncodeNpyHeader(const Tensor& tensor);

// A regular file is mapped, not read: the tensor views the map (kept while
// the tensor lives), so a file larger than memory can be sent, its pages
// read as they go out. Other files (pipes) are read whole.
absl::StatusOr<Tensor> ReadNpyFile(const std::string& path);
// Writes the tensor's bytes from its own memory, in pieces.
absl::Status WriteNpyFile(const std::string& path, const Tensor& tensor);

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_CLI_NPY_H_
