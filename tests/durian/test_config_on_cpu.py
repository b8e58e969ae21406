import pytest
from omegaconf import OmegaConf

from durian.config import DurianConfig


def test_defaults_are_the_spec_choices():
    config = DurianConfig()
    assert config.weights == (0.1, 0.2, 0.7)
    assert config.num_reasoning_groups == 12
    assert config.perceptual_quantiles == (0.25, 0.75)
    assert config.confidence_reduce == "mean" and config.eps == 1e-6


def test_reads_a_hydra_node():
    node = OmegaConf.create({"weights": [0.4, 0.3, 0.3], "num_reasoning_groups": 6})
    config = DurianConfig.from_mapping(node)
    assert config.weights == (0.4, 0.3, 0.3) and config.num_reasoning_groups == 6


@pytest.mark.parametrize(
    "mapping,message",
    [
        ({"weigths": [1, 0, 0]}, r"unknown Durian setting\(s\) \['weigths'\]"),
        ({"weights": [0.5, 0.6, 0.1]}, "weights: must sum to 1"),
        ({"num_reasoning_groups": 0}, "num_reasoning_groups"),
        ({"num_reasoning_groups": "12"}, "num_reasoning_groups"),
        ({"confidence_reduce": "median"}, "confidence_reduce"),
        ({"perceptual_quantiles": [0.75, 0.25]}, "perceptual_quantiles"),
        ({"eps": -1.0}, "eps"),
    ],
)
def test_bad_settings_name_the_key(mapping, message):
    with pytest.raises(ValueError, match=message):
        DurianConfig.from_mapping(mapping)
