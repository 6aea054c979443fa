import numpy as np
import pytest
import torch


@pytest.fixture
def float64():
    """Run the test with float64 as torch's default dtype (tight comparisons against references)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture
def one_thread():
    """Run the test on one thread: tiny models, and other work shares the machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _markov_docs(seed: int, n: int = 30, vocab: int = 12) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    nxt = rng.integers(0, vocab, size=(vocab, 3))
    out = []
    for _ in range(n):
        doc = [int(rng.integers(vocab))]
        for _ in range(int(rng.integers(1, 25))):
            doc.append(int(nxt[doc[-1], rng.integers(3)]))
        out.append(doc)
    return out


@pytest.fixture(scope="session")
def markov_docs():
    """``markov_docs(seed, n=30)``: n documents of ids 0..11 from a sparse random Markov chain (three
    followers an id), so that n-gram contexts repeat; the same seed gives the same documents."""
    return _markov_docs


@pytest.fixture(scope="session")
def private_cache(tmp_path_factory):
    """A cache folder of the test session's own in place of the user's (``XDG_CACHE_HOME``): what a test
    derives from a package's data (music21's chorales) is made once a session, and never lands in ``~``."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder
