import numpy as np
import pytest
from hypothesis import given
from hypothesis.errors import InvalidArgument

from theory import Gaussian, IndependentCoordinates
from verify import strategies as sst


@given(sst.spectra(1, 12))
def test_spectra_are_valid(lam):
    assert lam.ndim == 1 and 1 <= len(lam) <= 12 and np.all(lam > 0) and np.all(np.isfinite(lam))


@given(sst.two_point_spectra(2, 10))
def test_two_point_spectra_have_two_values(lam):
    assert len(np.unique(lam)) == 2


@given(sst.power_law_spectra(3, 10, 1.0, 1.5))
def test_power_law_spectra_decrease(lam):
    assert np.all(np.diff(lam) < 0) and lam[0] == 1.0


@given(sst.data_models(dimension=5, min_kurtosis=1.0, max_kurtosis=4.0))
def test_data_models(dm):
    assert isinstance(dm, (Gaussian, IndependentCoordinates))
    k = dm.kurtosis_values(5)
    assert k.shape == (5,) and np.all((k >= 1) & (k <= 4))


@given(sst.problems(max_dimension=5))
def test_problems_are_inside_the_stable_region(p):
    assert 0 < p.learning_rate < p.critical_learning_rate
    assert p.recursion().spectral_radius(p.eigenvalues, p.learning_rate, p.batch) < 1


@given(sst.problems(max_dimension=4, inside=False))
def test_problems_outside_are_unstable(p):
    assert p.learning_rate > p.critical_learning_rate
    assert p.recursion().spectral_radius(p.eigenvalues, p.learning_rate, p.batch) > 1


@given(sst.learning_rates(0.5, inside=True))
def test_learning_rates(g):
    assert 0 < g < 0.5


@pytest.mark.parametrize("make", [
    lambda: sst.arbitrary_spectra(min_dimension=0),
    lambda: sst.arbitrary_spectra(min_dimension=5, max_dimension=2),
    lambda: sst.arbitrary_spectra(min_eigenvalue=-1.0),
    lambda: sst.power_law_spectra(scale=0.0),
    lambda: sst.batch_sizes(0),
    lambda: sst.data_models(min_kurtosis=0.5),
    lambda: sst.critical_fractions(True, 0.5, 1.2),
    lambda: sst.critical_fractions(False, 0.9, 1.2),
    lambda: sst.learning_rates(-1.0),
    lambda: sst.noise_variances(-1.0, 1.0),
])
def test_invalid_arguments_raise_up_front(make):
    with pytest.raises(InvalidArgument):
        make()
