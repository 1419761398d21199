#include "tests/core/torch_oracle_support.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tensorops::testing {
namespace {

static_assert(std::endian::native == std::endian::little,
              "tensors are little-endian; the byte handling below assumes a "
              "little-endian host");

// Loads the low DTypeSize(dtype) bytes of element `i` as an unsigned pattern.
uint64_t LoadBits(DType dtype, const std::byte* data, int64_t i) {
  const size_t size = DTypeSize(dtype);
  uint64_t bits = 0;
  std::memcpy(&bits, data + i * size, size);
  return bits;
}

void StoreBits(DType dtype, uint64_t bits, std::byte* data, int64_t i) {
  const size_t size = DTypeSize(dtype);
  std::memcpy(data + i * size, &bits, size);
}

// IEEE binary16, decoded by hand so the test does not trust any converter.
double HalfToDouble(uint16_t h) {
  const int sign = h >> 15;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  double magnitude;
  if (exponent == 0x1f) {
    magnitude = mantissa != 0 ? std::nan("") : INFINITY;
  } else if (exponent == 0) {
    magnitude = std::ldexp(mantissa, -24);
  } else {
    magnitude = std::ldexp(mantissa + 1024, exponent - 25);
  }
  return sign ? -magnitude : magnitude;
}

OrderKey KeyOf(DType dtype, uint64_t bits) {
  OrderKey key;
  switch (dtype) {
    case DType::kFloat32: {
      float f;
      const uint32_t b = static_cast<uint32_t>(bits);
      std::memcpy(&f, &b, sizeof(f));
      key.real = f;
      break;
    }
    case DType::kFloat64:
      key.real = std::bit_cast<double>(bits);
      break;
    case DType::kFloat16:
      key.real = HalfToDouble(static_cast<uint16_t>(bits));
      break;
    case DType::kBFloat16: {
      // bfloat16 is the upper half of a float32.
      const uint32_t widened = static_cast<uint32_t>(bits) << 16;
      key.real = std::bit_cast<float>(widened);
      break;
    }
    case DType::kInt8:
      key.integer = static_cast<int8_t>(bits);
      break;
    case DType::kInt16:
      key.integer = static_cast<int16_t>(bits);
      break;
    case DType::kInt32:
      key.integer = static_cast<int32_t>(bits);
      break;
    case DType::kInt64:
      key.integer = static_cast<int64_t>(bits);
      break;
    case DType::kUInt8:
      key.integer = static_cast<uint8_t>(bits);
      break;
    case DType::kBool:
      key.integer = bits != 0;
      break;
  }
  if (std::isnan(key.real)) {
    key.is_nan = true;
    key.real = 0;
  }
  return key;
}

// Field widths of the floating dtypes, for building special bit patterns.
struct FloatFormat {
  int exponent_bits;
  int mantissa_bits;

  uint64_t sign() const {
    return uint64_t{1} << (exponent_bits + mantissa_bits);
  }
  uint64_t max_exponent() const { return (uint64_t{1} << exponent_bits) - 1; }
  uint64_t exponent_mask() const { return max_exponent() << mantissa_bits; }
  uint64_t mantissa_mask() const { return (uint64_t{1} << mantissa_bits) - 1; }
  uint64_t quiet() const { return uint64_t{1} << (mantissa_bits - 1); }
  uint64_t bias() const { return (uint64_t{1} << (exponent_bits - 1)) - 1; }
};

FloatFormat FormatOf(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
      return {11, 52};
    case DType::kFloat16:
      return {5, 10};
    case DType::kBFloat16:
      return {8, 7};
    default:
      return {8, 23};
  }
}

uint64_t RandomSign(Rng& rng, const FloatFormat& f) {
  return Chance(rng, 50) ? f.sign() : 0;
}

// Zeros, infinities, NaNs of every kind, denormals and extreme finites.
uint64_t FloatSpecial(Rng& rng, const FloatFormat& f) {
  const uint64_t sign = RandomSign(rng, f);
  const uint64_t payload = rng() & (f.quiet() - 1);
  switch (Uniform(rng, 0, 8)) {
    case 0:
    case 1:
      return sign;  // +-0.0
    case 2:
    case 3:
      return sign | f.exponent_mask();  // +-inf
    case 4:
      return sign | f.exponent_mask() | f.quiet();  // default quiet NaN
    case 5:
      return sign | f.exponent_mask() | f.quiet() | payload;  // payload NaN
    case 6:
      // Signaling NaN: quiet bit clear, payload nonzero.
      return sign | f.exponent_mask() | (payload == 0 ? 1 : payload);
    case 7: {
      // Largest finite or smallest denormal magnitude.
      const uint64_t largest_finite =
          (f.exponent_mask() - (uint64_t{1} << f.mantissa_bits)) |
          f.mantissa_mask();
      return sign | (Chance(rng, 50) ? largest_finite : 1);
    }
    default:
      return sign | (uint64_t{1} << f.mantissa_bits);  // smallest normal
  }
}

// Finite values from a set of 40: +-(1, 1.25, 1.5, 1.75) * 2^(-2..2).
uint64_t FloatCoarse(Rng& rng, const FloatFormat& f) {
  const uint64_t exponent = f.bias() + Uniform(rng, -2, 2);
  const uint64_t mantissa = static_cast<uint64_t>(Uniform(rng, 0, 3))
                            << (f.mantissa_bits - 2);
  return RandomSign(rng, f) | (exponent << f.mantissa_bits) | mantissa;
}

// Any finite value, denormals included.
uint64_t FloatWide(Rng& rng, const FloatFormat& f) {
  const uint64_t exponent = Uniform(rng, 0, f.max_exponent() - 1);
  return RandomSign(rng, f) | (exponent << f.mantissa_bits) |
         (rng() & f.mantissa_mask());
}

uint64_t FloatValue(Rng& rng, const FloatFormat& f, ValueMix mix) {
  switch (mix) {
    case ValueMix::kPool:
      return Chance(rng, 35) ? FloatSpecial(rng, f) : FloatCoarse(rng, f);
    case ValueMix::kCoarse:
      return Chance(rng, 5) ? FloatSpecial(rng, f) : FloatCoarse(rng, f);
    case ValueMix::kWide:
      return Chance(rng, 10) ? FloatSpecial(rng, f) : FloatWide(rng, f);
    case ValueMix::kRandomBits:
      return rng();
  }
  return 0;
}

uint64_t IntegerValue(Rng& rng, DType dtype, ValueMix mix) {
  // Only the bytes 0 and 1 are bools (libtorch reads others as undefined).
  if (dtype == DType::kBool) return Chance(rng, 50) ? 1 : 0;
  const int bits = static_cast<int>(DTypeSize(dtype)) * 8;
  const bool is_unsigned = dtype == DType::kUInt8;
  const uint64_t min = is_unsigned ? 0 : uint64_t{1} << (bits - 1);
  const uint64_t max = is_unsigned ? (uint64_t{1} << bits) - 1 : min - 1;
  const auto small = [&] {
    return static_cast<uint64_t>(is_unsigned ? Uniform(rng, 0, 6)
                                             : Uniform(rng, -3, 3));
  };
  switch (mix) {
    case ValueMix::kPool:
      if (Chance(rng, 20)) return Chance(rng, 50) ? min : max;
      return small();
    case ValueMix::kCoarse:
      if (Chance(rng, 5)) return Chance(rng, 50) ? min : max;
      return small();
    case ValueMix::kWide:
    case ValueMix::kRandomBits:
      return rng();
  }
  return 0;
}

}  // namespace

const char* ValueMixName(ValueMix mix) {
  switch (mix) {
    case ValueMix::kPool:
      return "pool";
    case ValueMix::kCoarse:
      return "coarse";
    case ValueMix::kWide:
      return "wide";
    case ValueMix::kRandomBits:
      return "random-bits";
  }
  return "?";
}

std::string InputBitsToString(DType dtype, absl::Span<const std::byte> bytes,
                              int64_t limit) {
  const int64_t count = bytes.size() / DTypeSize(dtype);
  if (count > limit) return "";
  std::string text = "\n  input bits:";
  for (int64_t i = 0; i < count; ++i) {
    absl::StrAppend(
        &text, " ",
        absl::StrFormat("%0*x", static_cast<int>(2 * DTypeSize(dtype)),
                        LoadBits(dtype, bytes.data(), i)));
  }
  return text;
}

int CompareOrder(const OrderKey& a, const OrderKey& b) {
  if (a.is_nan || b.is_nan) return int{a.is_nan} - int{b.is_nan};
  if (a.real != b.real) return a.real < b.real ? -1 : 1;  // -0.0 == +0.0
  if (a.integer != b.integer) return a.integer < b.integer ? -1 : 1;
  return 0;
}

std::vector<OrderKey> OrderKeysOf(DType dtype,
                                  absl::Span<const std::byte> bytes) {
  const int64_t count = bytes.size() / DTypeSize(dtype);
  std::vector<OrderKey> keys(count);
  for (int64_t i = 0; i < count; ++i) {
    keys[i] = KeyOf(dtype, LoadBits(dtype, bytes.data(), i));
  }
  return keys;
}

SliceGeometry GeometryOf(ShapeView shape, int64_t wrapped_dim) {
  SliceGeometry g;
  if (shape.empty()) return g;
  for (int64_t d = 0; d < wrapped_dim; ++d) g.outer *= shape[d];
  g.size = shape[wrapped_dim];
  for (size_t d = wrapped_dim + 1; d < shape.size(); ++d) g.inner *= shape[d];
  return g;
}

int64_t WrapDimOrMinusOne(int64_t dim, int64_t rank) {
  const int64_t extent = std::max<int64_t>(rank, 1);
  if (dim < -extent || dim >= extent) return -1;
  return dim < 0 ? dim + extent : dim;
}

ReferenceTopK ReferenceSelect(absl::Span<const OrderKey> keys, ShapeView shape,
                              const TopKOptions& options) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t dim = WrapDimOrMinusOne(options.dim, rank);
  const SliceGeometry g = GeometryOf(shape, dim);
  // A 0-d input yields itself for k = 0 and k = 1 alike.
  const int64_t k = rank == 0 ? 1 : options.k;
  ReferenceTopK ref;
  ref.output_shape.assign(shape.begin(), shape.end());
  if (rank > 0) ref.output_shape[dim] = k;
  ref.indices.assign(g.outer * k * g.inner, -1);
  ref.unique_in_slice.assign(keys.size(), false);
  std::vector<int64_t> order(g.size);
  for (int64_t o = 0; o < g.outer; ++o) {
    for (int64_t i = 0; i < g.inner; ++i) {
      const auto key_at = [&](int64_t s) -> const OrderKey& {
        return keys[g.At(o, s, i, g.size)];
      };
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        const int c = CompareOrder(key_at(a), key_at(b));
        return options.largest ? c > 0 : c < 0;
      });
      for (int64_t p = 0; p < g.size; ++p) {
        const bool same_as_previous =
            p > 0 && CompareOrder(key_at(order[p - 1]), key_at(order[p])) == 0;
        const bool same_as_next =
            p + 1 < g.size &&
            CompareOrder(key_at(order[p + 1]), key_at(order[p])) == 0;
        ref.unique_in_slice[g.At(o, order[p], i, g.size)] =
            !same_as_previous && !same_as_next;
      }
      std::vector<int64_t> selected(order.begin(), order.begin() + k);
      if (!options.sorted) std::sort(selected.begin(), selected.end());
      for (int64_t j = 0; j < k; ++j) {
        ref.indices[g.At(o, j, i, k)] = selected[j];
      }
    }
  }
  return ref;
}

std::string Describe(const TopKCase& c) {
  std::string text = absl::StrCat(
      "case #", c.seed_index, " dtype=", DTypeName(c.dtype),
      " shape=", ShapeToString(c.shape), " dim=", c.options.dim,
      " k=", c.options.k, " largest=", c.options.largest,
      " sorted=", c.options.sorted, " values=", ValueMixName(c.mix));
  if (c.mix == ValueMix::kPool) absl::StrAppend(&text, "(", c.pool_size, ")");
  absl::StrAppend(&text, InputBitsToString(c.dtype, c.input));
  return text;
}

Rng RngFor(DType dtype, int64_t seed_index, uint64_t salt) {
  // A fixed seed per (dtype, case): any case can be rerun on its own.
  std::seed_seq seq{uint64_t{20261127}, static_cast<uint64_t>(dtype),
                    static_cast<uint64_t>(seed_index), salt};
  return Rng(seq);
}

int64_t Uniform(Rng& rng, int64_t lo, int64_t hi) {
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int64_t>(rng() % span);
}

bool Chance(Rng& rng, int percent) { return Uniform(rng, 0, 99) < percent; }

Shape RandomShape(Rng& rng, int64_t max_elements) {
  // Weighted towards ranks 1-3; rank 0 and 4 still appear often.
  static constexpr int kRankWeights[] = {8, 25, 30, 22, 15};
  static constexpr int64_t kMaxExtent[] = {0, 300, 40, 12, 7};
  int64_t pick = Uniform(rng, 0, 99);
  int rank = 0;
  while (pick >= kRankWeights[rank]) pick -= kRankWeights[rank++];
  while (true) {
    Shape shape(rank);
    int64_t elements = 1;
    for (int64_t& extent : shape) {
      extent = Chance(rng, 8) ? 0 : Uniform(rng, 1, kMaxExtent[rank]);
      elements *= extent;
    }
    if (elements <= max_elements) return shape;
  }
}

std::vector<std::byte> RandomValues(Rng& rng, DType dtype, int64_t count,
                                    ValueMix mix, int pool_size) {
  const bool floating = IsFloatingPoint(dtype);
  const FloatFormat format = FormatOf(dtype);
  const auto draw = [&](ValueMix m) {
    return floating ? FloatValue(rng, format, m) : IntegerValue(rng, dtype, m);
  };
  std::vector<uint64_t> pool;
  if (mix == ValueMix::kPool) {
    for (int p = 0; p < pool_size; ++p) pool.push_back(draw(mix));
  }
  std::vector<std::byte> bytes(count * DTypeSize(dtype));
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t bits = mix == ValueMix::kPool
                              ? pool[Uniform(rng, 0, pool_size - 1)]
                              : draw(mix);
    StoreBits(dtype, bits, bytes.data(), i);
  }
  return bytes;
}

std::vector<std::byte> RandomGrad(Rng& rng, DType dtype, int64_t count,
                                  bool allow_nan) {
  const FloatFormat f = FormatOf(dtype);
  std::vector<std::byte> bytes(count * DTypeSize(dtype));
  for (int64_t i = 0; i < count; ++i) {
    uint64_t bits = FloatWide(rng, f);
    const int64_t pick = Uniform(rng, 0, 99);
    if (pick < 4) {
      bits = RandomSign(rng, f);  // +-0.0
    } else if (pick < 7) {
      bits = RandomSign(rng, f) | f.exponent_mask();  // +-inf
    } else if (pick < 10 && allow_nan) {
      bits = RandomSign(rng, f) | f.exponent_mask() | f.quiet() |
             (rng() & (f.quiet() - 1));
    }
    StoreBits(dtype, bits, bytes.data(), i);
  }
  return bytes;
}

TopKCase MakeTopKCase(DType dtype, int64_t seed_index, Shape shape,
                      const TopKOptions& options, ValueMix mix, int pool_size) {
  Rng rng = RngFor(dtype, seed_index, /*salt=*/1);
  TopKCase c;
  c.seed_index = seed_index;
  c.dtype = dtype;
  c.shape = std::move(shape);
  c.options = options;
  c.mix = mix;
  c.pool_size = pool_size;
  int64_t count = 1;
  for (int64_t extent : c.shape) count *= extent;
  c.input = RandomValues(rng, dtype, count, mix, pool_size);
  if (IsFloatingPoint(dtype)) {
    const int64_t rank = static_cast<int64_t>(c.shape.size());
    const int64_t dim = WrapDimOrMinusOne(options.dim, rank);
    const int64_t extent = rank == 0 ? 1 : c.shape[dim];
    const int64_t out_count =
        extent == 0 ? 0 : count / extent * (rank == 0 ? 1 : options.k);
    // float16 goes through float32 in libtorch's autograd; a NaN payload
    // might not survive the round trip, so its gradients carry none.
    c.grad = RandomGrad(rng, dtype, out_count, dtype != DType::kFloat16);
  }
  return c;
}

TopKCase RandomTopKCase(DType dtype, int64_t seed_index) {
  Rng rng = RngFor(dtype, seed_index);
  Shape shape = RandomShape(rng, /*max_elements=*/4096);
  const int64_t rank = static_cast<int64_t>(shape.size());
  TopKOptions options;
  options.dim = rank == 0 ? Uniform(rng, -1, 0) : Uniform(rng, -rank, rank - 1);
  const int64_t size =
      rank == 0 ? 1 : shape[WrapDimOrMinusOne(options.dim, rank)];
  const int64_t k_pick = Uniform(rng, 0, 99);
  if (k_pick < 10) {
    options.k = 0;
  } else if (k_pick < 22) {
    options.k = size;
  } else if (k_pick < 35) {
    options.k = std::min<int64_t>(1, size);
  } else {
    options.k = Uniform(rng, 0, size);
  }
  options.largest = Chance(rng, 50);
  options.sorted = Chance(rng, 50);
  static constexpr int kPoolSizes[] = {1, 1, 2, 2, 3, 4, 6, 8};
  const int64_t mix_pick = Uniform(rng, 0, 99);
  const ValueMix mix = mix_pick < 45   ? ValueMix::kPool
                       : mix_pick < 65 ? ValueMix::kCoarse
                       : mix_pick < 85 ? ValueMix::kWide
                                       : ValueMix::kRandomBits;
  const int pool_size = kPoolSizes[Uniform(rng, 0, 7)];
  return MakeTopKCase(dtype, seed_index, std::move(shape), options, mix,
                      pool_size);
}

Shape SelectionOutputShape(ShapeView shape, const SelectionOptions& options) {
  Shape out(shape.begin(), shape.end());
  if (out.empty() || options.kind == SelectionKind::kSort) return out;
  const int64_t dim =
      WrapDimOrMinusOne(options.dim, static_cast<int64_t>(shape.size()));
  if (options.keepdim) {
    out[dim] = 1;
  } else {
    out.erase(out.begin() + dim);
  }
  return out;
}

ReferenceSelection ReferenceSelectionOf(absl::Span<const OrderKey> keys,
                                        ShapeView shape,
                                        const SelectionOptions& options) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t dim = WrapDimOrMinusOne(options.dim, rank);
  const SliceGeometry g = GeometryOf(shape, dim);
  const bool sort = options.kind == SelectionKind::kSort;
  const int64_t per_slice = sort ? g.size : 1;
  ReferenceSelection ref;
  ref.output_shape = SelectionOutputShape(shape, options);
  ref.indices.assign(g.outer * per_slice * g.inner, -1);
  ref.tied.assign(ref.indices.size(), false);
  std::vector<int64_t> ascending(g.size);
  for (int64_t o = 0; o < g.outer; ++o) {
    for (int64_t i = 0; i < g.inner; ++i) {
      const auto key_at = [&](int64_t s) -> const OrderKey& {
        return keys[g.At(o, s, i, g.size)];
      };
      const auto ties = [&](int64_t selected) {
        for (int64_t s = 0; s < g.size; ++s) {
          if (s != selected && CompareOrder(key_at(s), key_at(selected)) == 0) {
            return true;
          }
        }
        return false;
      };
      std::iota(ascending.begin(), ascending.end(), 0);
      std::stable_sort(ascending.begin(), ascending.end(),
                       [&](int64_t a, int64_t b) {
                         return CompareOrder(key_at(a), key_at(b)) < 0;
                       });
      int64_t first_nan = -1;
      for (int64_t s = 0; s < g.size && first_nan < 0; ++s) {
        if (key_at(s).is_nan) first_nan = s;
      }
      if (sort) {
        std::vector<int64_t> order = ascending;
        if (options.descending) {
          std::stable_sort(order.begin(), order.end(),
                           [&](int64_t a, int64_t b) {
                             return CompareOrder(key_at(a), key_at(b)) > 0;
                           });
        }
        for (int64_t j = 0; j < g.size; ++j) {
          // Equal keys are adjacent in the order.
          const auto same = [&](int64_t other) {
            return other >= 0 && other < g.size &&
                   CompareOrder(key_at(order[other]), key_at(order[j])) == 0;
          };
          ref.indices[g.At(o, j, i, g.size)] = order[j];
          ref.tied[g.At(o, j, i, g.size)] = same(j - 1) || same(j + 1);
        }
        continue;
      }
      int64_t selected = 0;
      switch (options.kind) {
        case SelectionKind::kMax:
          for (int64_t s = 1; s < g.size; ++s) {
            if (CompareOrder(key_at(s), key_at(selected)) > 0) selected = s;
          }
          break;
        case SelectionKind::kMin:
          if (first_nan >= 0) {
            selected = first_nan;
            break;
          }
          for (int64_t s = 1; s < g.size; ++s) {
            if (CompareOrder(key_at(s), key_at(selected)) < 0) selected = s;
          }
          break;
        case SelectionKind::kMedian:
          selected = first_nan >= 0 ? first_nan : ascending[(g.size - 1) / 2];
          break;
        case SelectionKind::kKthValue: {
          const OrderKey& kth = key_at(ascending[options.k - 1]);
          while (CompareOrder(key_at(selected), kth) != 0) ++selected;
          break;
        }
        case SelectionKind::kSort:
          break;
      }
      ref.indices[o * g.inner + i] = selected;
      ref.tied[o * g.inner + i] = ties(selected);
    }
  }
  return ref;
}

std::string Describe(const SelectionCase& c) {
  const SelectionOptions& o = c.options;
  std::string text =
      absl::StrCat(SelectionKindName(o.kind), " case #", c.seed_index,
                   " dtype=", DTypeName(c.dtype),
                   " shape=", ShapeToString(c.shape), " dim=", o.dim);
  switch (o.kind) {
    case SelectionKind::kSort:
      absl::StrAppend(&text, " descending=", o.descending,
                      " stable=", o.stable);
      break;
    case SelectionKind::kKthValue:
      absl::StrAppend(&text, " k=", o.k, " keepdim=", o.keepdim);
      break;
    default:
      absl::StrAppend(&text, " keepdim=", o.keepdim);
      break;
  }
  absl::StrAppend(&text, " values=", ValueMixName(c.mix));
  if (c.mix == ValueMix::kPool) absl::StrAppend(&text, "(", c.pool_size, ")");
  absl::StrAppend(&text, InputBitsToString(c.dtype, c.input));
  return text;
}

SelectionCase MakeSelectionCase(DType dtype, int64_t seed_index, Shape shape,
                                const SelectionOptions& options, ValueMix mix,
                                int pool_size) {
  Rng rng = RngFor(dtype, seed_index,
                   /*salt=*/100 + static_cast<uint64_t>(options.kind));
  SelectionCase c;
  c.seed_index = seed_index;
  c.dtype = dtype;
  c.shape = std::move(shape);
  c.options = options;
  c.mix = mix;
  c.pool_size = pool_size;
  int64_t count = 1;
  for (int64_t extent : c.shape) count *= extent;
  c.input = RandomValues(rng, dtype, count, mix, pool_size);
  if (IsFloatingPoint(dtype)) {
    int64_t out_count = 1;
    for (int64_t extent : SelectionOutputShape(c.shape, options)) {
      out_count *= extent;
    }
    // As in MakeTopKCase: float16 may go through float32 in libtorch.
    c.grad = RandomGrad(rng, dtype, out_count, dtype != DType::kFloat16);
  }
  return c;
}

SelectionCase RandomSelectionCase(SelectionKind kind, DType dtype,
                                  int64_t seed_index) {
  Rng rng =
      RngFor(dtype, seed_index, /*salt=*/10 + static_cast<uint64_t>(kind));
  Shape shape = RandomShape(rng, /*max_elements=*/4096);
  const int64_t rank = static_cast<int64_t>(shape.size());
  SelectionOptions options;
  options.kind = kind;
  options.dim = rank == 0 ? Uniform(rng, -1, 0) : Uniform(rng, -rank, rank - 1);
  const int64_t dim = WrapDimOrMinusOne(options.dim, rank);
  if (kind != SelectionKind::kSort && rank > 0 && shape[dim] == 0) {
    // A reduction needs elements along dim (RandomShape keeps every shape
    // within 4096 elements whatever this extent).
    shape[dim] = Uniform(rng, 1, 7);
  }
  const int64_t size = rank == 0 ? 1 : shape[dim];
  options.keepdim = Chance(rng, 50);
  options.descending = Chance(rng, 50);
  options.stable = Chance(rng, 50);
  if (kind == SelectionKind::kKthValue) {
    const int64_t k_pick = Uniform(rng, 0, 99);
    options.k = k_pick < 20   ? 1
                : k_pick < 40 ? size
                : k_pick < 55 ? (size + 1) / 2
                              : Uniform(rng, 1, size);
  }
  static constexpr int kPoolSizes[] = {1, 1, 2, 2, 3, 4, 6, 8};
  const int64_t mix_pick = Uniform(rng, 0, 99);
  const ValueMix mix = mix_pick < 45   ? ValueMix::kPool
                       : mix_pick < 65 ? ValueMix::kCoarse
                       : mix_pick < 85 ? ValueMix::kWide
                                       : ValueMix::kRandomBits;
  const int pool_size = kPoolSizes[Uniform(rng, 0, 7)];
  return MakeSelectionCase(dtype, seed_index, std::move(shape), options, mix,
                           pool_size);
}

}  // namespace tensorops::testing
