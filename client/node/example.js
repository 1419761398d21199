'use strict';
// TopK with save_for_backward, then Backward on the saved session with a
// gradient of ones. Run against a server:
//   TENSOROPS_ADDRESS=127.0.0.1:50051 node example.js
const tensorops = require('./tensorops');

async function main() {
  const client = tensorops.createClient();
  try {
    const x = new Float32Array([1, 5, 3, 2, 4, 9, 0, 7, 8, 6]);
    const input = tensorops.tensorFromFloat32(x, [2, 5]);
    console.log(`server ${client.address}; input [2, 5]: ${Array.from(x)}`);

    const topk = await client.topK({ input, k: 2, dim: -1, save_for_backward: true });
    const values = tensorops.toFloat32Array(topk.values);
    const indices = tensorops.toBigInt64Array(topk.indices);
    console.log(`topk(k=2, dim=-1) values  [${tensorops.shapeOf(topk.values)}]: ${Array.from(values)}`);
    console.log(`topk(k=2, dim=-1) indices [${tensorops.shapeOf(topk.indices)}]: ${Array.from(indices)}`);
    console.log(`session_id: ${topk.session_id}`);

    const ones = new Float32Array(values.length).fill(1);
    const backward = await client.backward({
      session_id: topk.session_id,
      grad_values: tensorops.tensorFromFloat32(ones, tensorops.shapeOf(topk.values)),
    });
    const grad = tensorops.toFloat32Array(backward.grad_input);
    console.log(`backward(ones) grad_input [${tensorops.shapeOf(backward.grad_input)}]: ${Array.from(grad)}`);
  } finally {
    client.close();
  }
}

main().catch((error) => {
  console.error(`example failed: ${error.message}`);
  process.exit(1);
});
