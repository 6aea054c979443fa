import pytest
import torch

from rnnkit import state as st


def lstm_like(batch: int = 4) -> st.State:
    return (torch.arange(batch * 3.0).view(batch, 3), -torch.arange(batch * 2.0).view(batch, 2))


def test_zeros_shapes_and_dtype():
    s = st.zeros(5, (3, 7), dtype=torch.float64)
    assert [t.shape for t in s] == [(5, 3), (5, 7)]
    assert all(t.dtype == torch.float64 and not t.any() for t in s)


def test_detach_cuts_the_graph_and_keeps_values():
    h = torch.ones(2, 3, requires_grad=True) * 2
    (d,) = st.detach((h,))
    assert not d.requires_grad and torch.equal(d, h.detach())


def test_select_rows_by_index_mask_list_and_slice():
    s = lstm_like()
    for rows in (torch.tensor([2, 0]), torch.tensor([True, False, True, False]), [2, 0], slice(1, 3)):
        out = st.select(s, rows)
        expected = s[0][rows] if not isinstance(rows, list) else s[0][torch.tensor(rows)]
        assert torch.equal(out[0], expected)
        assert out[1].shape[0] == out[0].shape[0]


def test_select_repeats_rows_for_beam_search():
    s = lstm_like(2)
    out = st.select(s, torch.tensor([1, 1, 0]))
    assert torch.equal(out[0][0], s[0][1]) and torch.equal(out[0][2], s[0][0])


def test_concat_then_select_gives_back_the_parts():
    a, b = lstm_like(2), lstm_like(3)
    both = st.concat([a, b])
    assert st.batch_size(both) == 5
    for got, want in zip(st.select(both, slice(2, 5)), b):
        assert torch.equal(got, want)


def test_scatter_replaces_only_chosen_rows():
    s = lstm_like()
    new = st.map_state(lambda t: torch.full_like(t[:2], 99.0), s)
    out = st.scatter(s, [3, 1], new)
    assert (out[0][[1, 3]] == 99).all() and torch.equal(out[0][[0, 2]], s[0][[0, 2]])
    assert not (s[0] == 99).any(), "scatter must not modify its input"


def test_reset_zeroes_rows_or_sets_them_to_init():
    s = lstm_like()
    rows = torch.tensor([False, True, False, True])
    out = st.reset(s, rows)
    assert not out[0][1].any() and torch.equal(out[0][0], s[0][0])
    init = st.map_state(lambda t: torch.ones_like(t), s)
    assert (st.reset(s, rows, init)[1][3] == 1).all()


def test_helpers_walk_nested_states():
    nested = (lstm_like(), (lstm_like(), lstm_like()))
    out = st.select(st.detach(nested), torch.tensor([0]))
    assert st.batch_size(out) == 1
    assert len(st.tensors(out)) == 6


def test_mismatched_structures_and_batches_are_errors():
    with pytest.raises(ValueError):
        st.concat([lstm_like(), (torch.zeros(2, 3),)])
    with pytest.raises(ValueError):
        st.batch_size((torch.zeros(2, 3), torch.zeros(3, 3)))
    with pytest.raises(ValueError):
        st.where(torch.ones(2, 2, dtype=torch.bool), lstm_like(2), lstm_like(2))
