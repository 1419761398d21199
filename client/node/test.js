'use strict';
// Tests of tensorops.js against a running tensorops-server (it starts none):
//   TENSOROPS_ADDRESS=127.0.0.1:50051 node test.js
// ctest runs it as node.client_test (tests/client/node_client_test.py starts
// the server). Exit status 0 when every check passes.
const assert = require('node:assert/strict');
const tensorops = require('./tensorops');

const { status } = tensorops;

// The input: [2, 5] float32, distinct values.
//   [[1, 5, 3, 2, 4],
//    [9, 0, 7, 8, 6]]
const X = new Float32Array([1, 5, 3, 2, 4, 9, 0, 7, 8, 6]);
const SHAPE = [2, 5];

async function expectError(promise, code, detailsPattern) {
  await assert.rejects(promise, (error) => {
    assert.equal(error.code, code, `expected code ${code}, got ${error.code}: ${error.details}`);
    assert.match(error.details, detailsPattern);
    return true;
  });
}

const tests = [];
function test(name, body) {
  tests.push({ name, body });
}

test('TopK(k=2, dim=-1) with save_for_backward, then Backward on its session', async (client) => {
  const topk = await client.topK({
    input: tensorops.tensorFromFloat32(X, SHAPE),
    k: 2,
    dim: -1,
    save_for_backward: true,
  });
  // Largest two of each row, best first: row 0 -> 5 (at 1), 4 (at 4);
  // row 1 -> 9 (at 0), 8 (at 3).
  assert.equal(topk.values.dtype, 'DTYPE_FLOAT32');
  assert.deepEqual(topk.values.shape, ['2', '2']); // int64 as strings (longs: String)
  assert.deepEqual(tensorops.toFloat32Array(topk.values), new Float32Array([5, 4, 9, 8]));
  assert.equal(topk.indices.dtype, 'DTYPE_INT64');
  assert.deepEqual(tensorops.shapeOf(topk.indices), [2, 2]);
  assert.deepEqual(tensorops.toBigInt64Array(topk.indices), new BigInt64Array([1n, 4n, 0n, 3n]));
  assert.match(topk.session_id, /^\S+$/);

  // grad_input = zeros([2, 5]).scatter(-1, indices, grad_values)
  const grad = new Float32Array([0.5, -1.5, 2.25, 3]);
  const backward = await client.backward({
    session_id: topk.session_id,
    grad_values: tensorops.tensorFromFloat32(grad, [2, 2]),
  });
  assert.equal(backward.grad_input.dtype, 'DTYPE_FLOAT32');
  assert.deepEqual(tensorops.shapeOf(backward.grad_input), SHAPE);
  assert.deepEqual(
    tensorops.toFloat32Array(backward.grad_input),
    new Float32Array([0, 0.5, 0, 0, -1.5, 2.25, 0, 0, 3, 0]),
  );

  // That Backward consumed the session (no retain_session).
  await expectError(
    client.backward({ session_id: topk.session_id, grad_values: tensorops.tensorFromFloat32(grad, [2, 2]) }),
    status.FAILED_PRECONDITION,
    /already consumed/,
  );
});

test('TopK without save_for_backward returns no session (defaults: true gives "")', async (client) => {
  const topk = await client.topK({ input: tensorops.tensorFromFloat32(X, SHAPE), k: 1 });
  assert.equal(topk.session_id, '');
  assert.deepEqual(tensorops.toFloat32Array(topk.values), new Float32Array([5, 9]));
  assert.deepEqual(tensorops.toBigInt64Array(topk.indices), new BigInt64Array([1n, 0n]));
});

test('TopK(k=1, dim=0): an explicit dim 0 is sent (proto3 optional)', async (client) => {
  const topk = await client.topK({ input: tensorops.tensorFromFloat32(X, SHAPE), k: 1, dim: 0 });
  assert.deepEqual(tensorops.shapeOf(topk.values), [1, 5]);
  assert.deepEqual(tensorops.toFloat32Array(topk.values), new Float32Array([9, 5, 7, 8, 6]));
  assert.deepEqual(tensorops.toBigInt64Array(topk.indices), new BigInt64Array([1n, 0n, 1n, 1n, 1n]));
});

test('stateless Backward: indices, input_shape and dim from the request', async (client) => {
  // The indices of TopK(k=1, dim=0) above, and a gradient for them.
  const backward = await client.backward({
    grad_values: tensorops.tensorFromFloat32(new Float32Array([1, 2, 3, 4, 5]), [1, 5]),
    indices: tensorops.tensorFromTypedArray(new BigInt64Array([1n, 0n, 1n, 1n, 1n]), [1, 5]),
    input_shape: SHAPE,
    dim: 0,
  });
  assert.deepEqual(tensorops.shapeOf(backward.grad_input), SHAPE);
  assert.deepEqual(
    tensorops.toFloat32Array(backward.grad_input),
    new Float32Array([0, 2, 0, 0, 0, 1, 0, 3, 4, 5]),
  );

  // And along the last dim (dim left unset: -1), with TopK(k=2)'s indices.
  const last = await client.backward({
    grad_values: tensorops.tensorFromFloat32(new Float32Array([0.5, -1.5, 2.25, 3]), [2, 2]),
    indices: tensorops.tensorFromTypedArray(new BigInt64Array([1n, 4n, 0n, 3n]), [2, 2]),
    input_shape: SHAPE,
  });
  assert.deepEqual(
    tensorops.toFloat32Array(last.grad_input),
    new Float32Array([0, 0.5, 0, 0, -1.5, 2.25, 0, 0, 3, 0]),
  );
});

test('a 0-d result has shape [] (defaults: true)', async (client) => {
  const topk = await client.topK({ input: tensorops.tensorFromFloat32(new Float32Array([42]), []), k: 1 });
  assert.deepEqual(topk.values.shape, []);
  assert.deepEqual(tensorops.toFloat32Array(topk.values), new Float32Array([42]));
  assert.deepEqual(tensorops.toBigInt64Array(topk.indices), new BigInt64Array([0n]));
});

test('errors: k too large is INVALID_ARGUMENT, an unknown session NOT_FOUND', async (client) => {
  await expectError(
    client.topK({ input: tensorops.tensorFromFloat32(X, SHAPE), k: 6 }),
    status.INVALID_ARGUMENT,
    /k = 6 is out of range/,
  );
  assert.equal(status.INVALID_ARGUMENT, 3);
  await expectError(
    client.backward({
      session_id: '0'.repeat(32), // well-formed, never issued
      grad_values: tensorops.tensorFromFloat32(new Float32Array([1, 1]), [2, 1]),
    }),
    status.NOT_FOUND,
    /unknown session_id/,
  );
});

async function main() {
  const client = tensorops.createClient({ deadlineMs: 10000 });
  let failed = 0;
  try {
    for (const { name, body } of tests) {
      try {
        await body(client);
        console.log(`ok   ${name}`);
      } catch (error) {
        failed += 1;
        console.log(`FAIL ${name}\n${error.stack || error}`);
      }
    }
  } finally {
    client.close();
  }
  console.log(`${tests.length - failed}/${tests.length} passed against ${client.address}`);
  process.exitCode = failed === 0 ? 0 : 1;
}

if (!process.env.TENSOROPS_ADDRESS) {
  console.error('set TENSOROPS_ADDRESS to a running tensorops-server (host:port or unix:/path)');
  process.exit(2);
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
