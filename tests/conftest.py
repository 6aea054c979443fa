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
