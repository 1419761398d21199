"""Differentiable topk, sort, kthvalue, max, min and median computed by a
tensorops server.

    import torch, tensorops, tensorops.torch
    client = tensorops.Client("127.0.0.1:50051")
    x = torch.randn(4, 10, requires_grad=True)
    values, indices = tensorops.torch.topk(x, 3, client=client)
    values.sum().backward()  # x.grad as with torch.topk

The forward pass calls the op (TopK, ...) with save_for_backward (only when x needs a
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


class _SelectionFunction(torch.autograd.Function):
    """A selection computed by `select(x, save)` (a Client call returning
    values, indices and session_id), differentiable through Backward.
    `keepdim`: whether values and indices keep dim (False for a reduction
    that dropped it)."""

    @staticmethod
    def forward(ctx, x, select, dim, keepdim, client, save, stream):
        result = select(x.detach(), save)
        values = result.values.to(x.device)
        indices = result.indices.to(x.device)
        ctx.mark_non_differentiable(indices)
        if save:
            ctx.session = _Session(client, result.session_id)
            ctx.input_shape = tuple(x.shape)
            ctx.dim = dim
            ctx.keepdim = keepdim
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
                keepdim=ctx.keepdim, stream=ctx.stream)
        return (grad_input.to(grad_values.device),) + (None,) * 6


def _client_or_default(client):
    return default_client() if client is None else client


def _apply(x, select, dim, keepdim, client, stream=None):
    save = torch.is_grad_enabled() and x.requires_grad
    return _SelectionFunction.apply(x, select, dim, keepdim, client, save, stream)


def topk(x, k, dim=-1, largest=True, sorted=True, *, client=None, out=None, stream=None):
    """torch.topk(x, k, dim, largest, sorted) on the server, differentiable
    with respect to x. Returns torch.return_types.topk(values, indices).

    Shared memory, when the client asks: an x in a tensorops.SharedMemory of
    the client goes by reference, and out= (a SharedMemory) places values
    and indices in the region (Client.topk's out).

    Large tensors go through the streamed calls as with Client.topk (the
    client's stream_threshold_bytes); `stream` (True or False) decides for
    both passes instead."""
    client = _client_or_default(client)

    def select(detached, save):
        return client.topk(detached, k, dim, largest, sorted, save_for_backward=save,
                           out=out, stream=stream)

    return torch.return_types.topk(_apply(x, select, dim, True, client, stream))


def sort(x, dim=-1, descending=False, stable=False, *, client=None):
    """torch.sort(x, dim, descending, stable) on the server (always stable),
    differentiable with respect to x: torch.return_types.sort."""
    client = _client_or_default(client)

    def select(detached, save):
        return client.sort(detached, dim, descending, stable, save_for_backward=save)

    return torch.return_types.sort(_apply(x, select, dim, True, client))


def kthvalue(x, k, dim=-1, keepdim=False, *, client=None):
    """torch.kthvalue(x, k, dim, keepdim) on the server, differentiable with
    respect to x: torch.return_types.kthvalue."""
    client = _client_or_default(client)

    def select(detached, save):
        return client.kthvalue(detached, k, dim, keepdim, save_for_backward=save)

    return torch.return_types.kthvalue(_apply(x, select, dim, keepdim, client))


def _reduction(name):
    def reduce(x, dim=-1, keepdim=False, *, client=None):
        client = _client_or_default(client)
        call = getattr(client, name)

        def select(detached, save):
            return call(detached, dim, keepdim, save_for_backward=save)

        return getattr(torch.return_types, name)(_apply(x, select, dim, keepdim, client))

    reduce.__name__ = name
    reduce.__doc__ = (f"torch.{name}(x, dim, keepdim) on the server (dim -1 when "
                      f"omitted), differentiable with respect to x: "
                      f"torch.return_types.{name}.")
    return reduce


max = _reduction("max")  # noqa: A001 (torch's name)
min = _reduction("min")  # noqa: A001
median = _reduction("median")
