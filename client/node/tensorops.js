'use strict';
// A small Node.js client of tensorops.v1.TensorOps: loads
// proto/tensorops/v1/tensor_ops.proto at run time with @grpc/proto-loader (no
// generated code), connects with @grpc/grpc-js, wraps the unary calls in
// promises, and converts between typed arrays and the Tensor message (raw,
// contiguous, row-major, little-endian bytes).
//
//   const tensorops = require('./tensorops');
//   const client = tensorops.createClient();  // $TENSOROPS_ADDRESS or localhost:50051
//   const x = tensorops.tensorFromFloat32(new Float32Array([3, 1, 2]), [3]);
//   const r = await client.topK({ input: x, k: 2, save_for_backward: true });
//   tensorops.toTypedArray(r.values);   // Float32Array [3, 2]
//   tensorops.toTypedArray(r.indices);  // BigInt64Array [0n, 2n]
//   client.close();

const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_PATH = path.join(__dirname, '..', '..', 'proto', 'tensorops', 'v1', 'tensor_ops.proto');
const DEFAULT_ADDRESS = 'localhost:50051';
const DEFAULT_DEADLINE_MS = 30000;

// The loader options. They shape only the objects this client *receives*
// (proto-loader turns a decoded message into a plain object with
// Type.toObject(message, options)); requests are converted with
// Type.fromObject, which accepts numbers, strings or Longs for int64 fields,
// enum names or numbers, and Buffers for bytes, whatever these options say.
const LOADER_OPTIONS = {
  // Field names as in the .proto (save_for_backward, session_id, input_shape).
  // Careful: a misspelled or camelCase name in a request (saveForBackward)
  // is silently ignored by fromObject, so the call goes out without it.
  keepCase: true,
  // int64 fields (shape, k, dim, the GetServerInfo limits) arrive as decimal
  // strings: shape is ['2', '5'], not [2, 5]. Numbers would lose precision
  // above 2^53; use shapeOf() for a shape of numbers. In requests, numbers
  // (k: 2, dim: -1) and strings ('2') both work.
  longs: String,
  // Enums arrive as names ('DTYPE_FLOAT32'); requests may use names or numbers.
  // An unknown name in a request is silently dropped (the field stays 0, so
  // the server answers "dtype is DTYPE_UNSPECIFIED").
  enums: String,
  // proto3 leaves a field at its default value (0, false, "", empty bytes,
  // empty repeated) off the wire, and the C++ server never writes one.
  // Without `defaults: true` such a field is simply missing from the received
  // object (undefined), e.g.:
  //   - TopKResponse.session_id when save_for_backward was not set;
  //   - Tensor.shape of a 0-d (scalar) result: undefined instead of [];
  //   - Tensor.data of an empty result: undefined instead of an empty Buffer;
  //   - GetServerInfoResponse.shared_memory_allowed when false, and any
  //     count that is 0 (caller_session_count, ...).
  // With it they read as "", [], an empty Buffer, false, '0', and unset
  // message fields (Tensor.shared_memory) as null. Fields declared
  // `optional` (TopKRequest.dim, largest, sorted, ...) keep their presence:
  // unset ones stay undefined even with defaults. (save_for_backward is a
  // request field: the client never receives it, so `defaults` does not
  // affect it; leaving it unset or false simply saves no session.)
  defaults: true,
  // Adds, for every oneof, a property naming the field that is set: `part`
  // ('request' or 'chunk') in the streamed messages, and `_dim`, `_largest`
  // ... for the synthetic oneofs of proto3 `optional` fields.
  oneofs: true,
};

const packageDefinition = protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS);
const proto = grpc.loadPackageDefinition(packageDefinition).tensorops.v1;

// Element type <-> typed array. float16 and bfloat16 have no typed array
// in Node 20: their raw 16-bit patterns travel as Uint16Array. bool is one
// byte (0 or 1) per element: Uint8Array.
const DTYPES = {
  DTYPE_FLOAT32: { size: 4, array: Float32Array },
  DTYPE_FLOAT64: { size: 8, array: Float64Array },
  DTYPE_FLOAT16: { size: 2, array: Uint16Array },
  DTYPE_BFLOAT16: { size: 2, array: Uint16Array },
  DTYPE_INT8: { size: 1, array: Int8Array },
  DTYPE_INT16: { size: 2, array: Int16Array },
  DTYPE_INT32: { size: 4, array: Int32Array },
  DTYPE_INT64: { size: 8, array: BigInt64Array },
  DTYPE_UINT8: { size: 1, array: Uint8Array },
  DTYPE_BOOL: { size: 1, array: Uint8Array },
};

// The dtype a typed array is sent as by default (Uint16Array and Uint8Array
// are ambiguous: pass dtype explicitly for float16, bfloat16 or bool).
const DTYPE_OF_ARRAY = new Map([
  [Float32Array, 'DTYPE_FLOAT32'],
  [Float64Array, 'DTYPE_FLOAT64'],
  [Int8Array, 'DTYPE_INT8'],
  [Int16Array, 'DTYPE_INT16'],
  [Int32Array, 'DTYPE_INT32'],
  [BigInt64Array, 'DTYPE_INT64'],
  [Uint8Array, 'DTYPE_UINT8'],
  [Uint16Array, 'DTYPE_FLOAT16'],
]);

function checkLittleEndian() {
  // Typed arrays use the host's byte order; the wire is little-endian.
  if (os.endianness() !== 'LE') {
    throw new Error('tensorops.js converts tensors on little-endian hosts only');
  }
}

function numberOfElements(shape) {
  return shape.reduce((n, d) => n * d, 1);
}

// A tensor's shape as numbers (the received one holds int64 strings).
function shapeOf(tensor) {
  return (tensor.shape || []).map(Number);
}

// A Tensor message of `array`'s elements with `shape` (default: 1-d). The
// bytes are a Buffer over the typed array's own memory, not a copy:
// Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength). Passing the typed
// array itself as `data` would be wrong: proto-loader would send one byte per
// element.
function tensorFromTypedArray(array, shape = [array.length], dtype = DTYPE_OF_ARRAY.get(array.constructor)) {
  checkLittleEndian();
  const info = DTYPES[dtype];
  if (!info) throw new TypeError(`no tensorops dtype for ${array.constructor.name}; pass one`);
  if (info.array !== array.constructor) {
    throw new TypeError(`${dtype} needs a ${info.array.name}, got a ${array.constructor.name}`);
  }
  const dims = Array.from(shape, Number);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new RangeError(`shape [${shape}] must hold integers >= 0`);
  }
  if (numberOfElements(dims) !== array.length) {
    throw new RangeError(`shape [${dims}] needs ${numberOfElements(dims)} elements, got ${array.length}`);
  }
  return {
    dtype,
    shape: dims,
    data: Buffer.from(array.buffer, array.byteOffset, array.byteLength),
  };
}

function tensorFromFloat32(array, shape) {
  if (!(array instanceof Float32Array)) throw new TypeError('expected a Float32Array');
  return tensorFromTypedArray(array, shape, 'DTYPE_FLOAT32');
}

// The elements of a received Tensor as a typed array of its dtype
// (Float32Array for float32, BigInt64Array for int64, ...). The bytes are
// copied: the received Buffer is a slice of gRPC's receive buffer at an
// arbitrary byte offset (often not a multiple of 4 or 8), which a
// Float32Array or BigInt64Array cannot view in place.
function toTypedArray(tensor) {
  checkLittleEndian();
  const info = DTYPES[tensor.dtype];
  if (!info) throw new TypeError(`unsupported dtype ${tensor.dtype}`);
  if (tensor.shared_memory) {
    throw new Error('the tensor lies in shared memory (shared_memory is set), not in data');
  }
  const data = tensor.data || Buffer.alloc(0);
  const count = numberOfElements(shapeOf(tensor));
  if (data.length !== count * info.size) {
    throw new RangeError(`${tensor.dtype} tensor of shape [${shapeOf(tensor)}] has ${data.length} bytes, expected ${count * info.size}`);
  }
  const bytes = new Uint8Array(data.length);
  bytes.set(data);
  return new info.array(bytes.buffer, 0, count);
}

function toFloat32Array(tensor) {
  if (tensor.dtype !== 'DTYPE_FLOAT32') throw new TypeError(`expected DTYPE_FLOAT32, got ${tensor.dtype}`);
  return toTypedArray(tensor);
}

function toBigInt64Array(tensor) {
  if (tensor.dtype !== 'DTYPE_INT64') throw new TypeError(`expected DTYPE_INT64, got ${tensor.dtype}`);
  return toTypedArray(tensor);
}

// The unary calls: RPC name -> method name of TensorOpsClient.
const UNARY_METHODS = {
  ZerosLike: 'zerosLike',
  OnesLike: 'onesLike',
  TopK: 'topK',
  Backward: 'backward',
  ReleaseSession: 'releaseSession',
  GetServerInfo: 'getServerInfo',
  RegisterSharedMemory: 'registerSharedMemory',
  UnregisterSharedMemory: 'unregisterSharedMemory',
  ListSharedMemory: 'listSharedMemory',
  Sort: 'sort',
  KthValue: 'kthValue',
  Max: 'max',
  Min: 'min',
  Median: 'median',
};

// A client of one server. Each unary call returns a promise of the response
// object; a failed call rejects with grpc-js's ServiceError (error.code: a
// grpc.status number such as 3 for INVALID_ARGUMENT, error.details: the
// server's message).
class TensorOpsClient {
  // options.address: host:port or unix:/path (default $TENSOROPS_ADDRESS,
  //   else localhost:50051).
  // options.token: bearer token, sent as 'authorization: Bearer <token>' on
  //   every call (default $TENSOROPS_AUTH_TOKEN; none if empty). The server
  //   checks it when run with --auth_tokens_file.
  // options.credentials: grpc.ChannelCredentials (default plaintext; use
  //   grpc.credentials.createSsl(ca) for a server with --tls_cert).
  // options.deadlineMs: per-call deadline (default 30 s).
  constructor(options = {}) {
    this.address = options.address || process.env.TENSOROPS_ADDRESS || DEFAULT_ADDRESS;
    this.token = options.token !== undefined ? options.token : process.env.TENSOROPS_AUTH_TOKEN || '';
    this.deadlineMs = options.deadlineMs || DEFAULT_DEADLINE_MS;
    this.stub = new proto.TensorOps(
      this.address,
      options.credentials || grpc.credentials.createInsecure(),
      options.channelOptions || {},
    );
  }

  // Calls the unary RPC `rpc` (e.g. 'TopK') with `request`.
  call(rpc, request = {}, { deadlineMs = this.deadlineMs } = {}) {
    const metadata = new grpc.Metadata();
    // Per-call metadata rather than call credentials: grpc-js refuses to
    // combine call credentials with a plaintext channel.
    if (this.token) metadata.set('authorization', `Bearer ${this.token}`);
    return new Promise((resolve, reject) => {
      this.stub[rpc](request, metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
        if (error) reject(error);
        else resolve(response);
      });
    });
  }

  close() {
    this.stub.close();
  }
}

for (const [rpc, method] of Object.entries(UNARY_METHODS)) {
  TensorOpsClient.prototype[method] = function (request, options) {
    return this.call(rpc, request, options);
  };
}

function createClient(options) {
  return new TensorOpsClient(options);
}

module.exports = {
  PROTO_PATH,
  LOADER_OPTIONS,
  DTYPES,
  grpc,
  proto,
  packageDefinition,
  status: grpc.status,
  TensorOpsClient,
  createClient,
  shapeOf,
  tensorFromTypedArray,
  tensorFromFloat32,
  toTypedArray,
  toFloat32Array,
  toBigInt64Array,
};
