"""A differentiable topk computed by a tensorops server.

    import torch, tensorops, tensorops.torch
    client = tensorops.Client("127.0.0.1:50051")
    x = torch.randn(4, 10, requires_grad=True)
    values, indices = tensorops.torch.topk(x, 3, client=client)
    values.sum().backward()  # x.grad as with torch.topk

The forward pass calls TopK with save_for_backward (only when x needs a
gradient); the backward pass calls Backward with the session, which frees
it. If the graph is freed without a backward pass, the session is released.
A second backward pass through a retained graph (retain_graph=True) uses the
stateless Backward, since the first consumed the session.
"""

import weakref

import torch

from tensorops._client import Client

_default_client = None


def default_client():
    """The client topk uses when given none: a Client() on the default
    address, created on first use."""
    global _default_client
    if _default_client is None:
        _default_client = Client()
    return _default_client


def set_default_client(client):
    global _default_client
    _default_client = client


def _release_quietly(client, session_id):
    # Best effort from a finalizer: the server may be gone, or the session
    # already expired; either way there is nothing left to free.
    try:
        client.release_session(session_id, timeout=5.0)
    except Exception:  # noqa: BLE001
        pass


class _Session:
    """A session saved on the server, released when this object is
    garbage-collected unless a backward pass consumed it first."""

    def __init__(self, client, session_id):
        self.client = client
        self.session_id = session_id
        self._release = weakref.finalize(self, _release_quietly, client, session_id)
        # At interpreter exit the server may be gone; its TTL frees the rest.
        self._release.atexit = False

    def consume(self):
        """True the first time: the caller may use the session (Backward frees
        it); False afterwards."""
        return self._release.detach() is not None


class _TopKFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k, dim, largest, sorted, client, save, out, stream):
        result = client.topk(x.detach(), k, dim, largest, sorted, save_for_backward=save,
                             out=out, stream=stream)
        values = result.values.to(x.device)
        indices = result.indices.to(x.device)
        ctx.mark_non_differentiable(indices)
        if save:
            ctx.session = _Session(client, result.session_id)
            ctx.input_shape = tuple(x.shape)
            ctx.dim = dim
            ctx.stream = stream
            ctx.save_for_backward(indices)
        return values, indices

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_values, grad_indices):
        session = ctx.session
        grad = grad_values.detach().cpu().contiguous()
        if session.consume():
            grad_input = session.client.backward(grad, session_id=session.session_id,
                                                 stream=ctx.stream)
        else:
            (indices,) = ctx.saved_tensors
            grad_input = session.client.backward(
                grad, indices=indices.cpu(), input_shape=ctx.input_shape, dim=ctx.dim,
                stream=ctx.stream)
        return (grad_input.to(grad_values.device),) + (None,) * 8


def topk(x, k, dim=-1, largest=True, sorted=True, *, client=None, out=None, stream=None):
    """torch.topk(x, k, dim, largest, sorted) on the server, differentiable
    with respect to x. Returns torch.return_types.topk(values, indices).

    Shared memory, when the client asks: an x in a tensorops.SharedMemory of
    the client goes by reference, and out= (a SharedMemory) places values
    and indices in the region (Client.topk's out).

    Large tensors go through the streamed calls as with Client.topk (the
    client's stream_threshold_bytes); `stream` (True or False) decides for
    both passes instead."""
    if client is None:
        client = default_client()
    save = torch.is_grad_enabled() and x.requires_grad
    values, indices = _TopKFunction.apply(x, k, dim, largest, sorted, client, save, out,
                                          stream)
    return torch.return_types.topk((values, indices))
