"""The loss doctor: one test per rule, the seed configuration, and that every fix cures its finding."""

from __future__ import annotations

import pytest

from lossviz.lessons import doctor
from lossviz.config import PRESETS

SEED = PRESETS["seed-autoencoder"]
FIXED_AE = PRESETS["autoencoder-sigmoid-bce"]
CLASSIFIER = PRESETS["classifier-cce"]


def ids(config) -> list[str]:
    return [f.id for f in doctor.diagnose(config)]


def click_fixes_until_clean(config, max_clicks: int = 10):
    """Apply the first finding's fix until the doctor finds nothing; fail if the fixes never converge."""
    for _ in range(max_clicks):
        findings = doctor.diagnose(config)
        if not findings:
            return config
        config = doctor.apply_fix(config, findings[0])
    raise AssertionError(f"the doctor's fixes do not converge for {config}")


def test_seed_configuration_lights_up_on_every_rule_that_applies():
    found = doctor.diagnose(SEED)
    assert [f.id for f in found] == ["softmax-bce", "targets-outside-unit"]
    # Clicking each first fix in turn, as a visitor would, gives exactly the preset that fixes it.
    assert click_fixes_until_clean(SEED) == FIXED_AE


def test_the_fixed_presets_are_clean():
    assert ids(FIXED_AE) == []
    assert ids(CLASSIFIER) == []
    assert ids(PRESETS["blobs-cce"]) == []
    assert ids(PRESETS["blobs-kl"]) == []


def test_softmax_output_with_bce_over_independent_pixels():
    assert "softmax-bce" in ids(FIXED_AE.replace(output_activation="softmax"))
    # A sigmoid output with the same loss is fine; a softmax classifier with CCE is fine.
    assert "softmax-bce" not in ids(FIXED_AE)
    finding = doctor.softmax_output_with_bce(FIXED_AE.replace(output_activation="softmax"))
    assert finding.fix == {"output_activation": "sigmoid"}


@pytest.mark.parametrize("loss", ["binary_crossentropy", "categorical_crossentropy", "kl_divergence"])
def test_cross_entropy_with_targets_outside_unit_interval(loss):
    raw = FIXED_AE.replace(pixels="raw", loss=loss)
    assert "targets-outside-unit" in ids(raw)
    assert "targets-outside-unit" not in ids(raw.replace(pixels="unit"))
    # A classifier's targets are one-hot whatever the pixels: the rule does not apply.
    assert "targets-outside-unit" not in ids(CLASSIFIER.replace(pixels="raw"))


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh"])
def test_unbounded_output_with_probability_loss(activation):
    ae = FIXED_AE.replace(output_activation=activation)
    finding = doctor.unbounded_output_probability_loss(ae)
    assert finding is not None and finding.fix == {"output_activation": "sigmoid"}
    cls = CLASSIFIER.replace(output_activation=activation)
    assert doctor.unbounded_output_probability_loss(cls).fix == {"output_activation": "softmax"}
    # Squared error has no probability reading: an unbounded output is allowed there.
    assert doctor.unbounded_output_probability_loss(ae.replace(loss="mean_squared_error")) is None


def test_mse_on_saturating_output_links_to_the_gradients_page():
    mse_ae = PRESETS["autoencoder-sigmoid-mse"]
    finding = doctor.mse_saturating_output(mse_ae)
    assert finding is not None and finding.link == "gradients"
    assert doctor.apply_fix(mse_ae, finding).loss == "binary_crossentropy"
    cls = doctor.mse_saturating_output(PRESETS["classifier-mse"])
    assert cls.fix == {"loss": "categorical_crossentropy"}
    assert doctor.apply_fix(PRESETS["classifier-mse"], cls) == CLASSIFIER
    assert doctor.mse_saturating_output(mse_ae.replace(output_activation="linear")) is None


def test_categorical_cross_entropy_on_sigmoid_output():
    cls = CLASSIFIER.replace(output_activation="sigmoid")
    finding = doctor.cce_on_sigmoid(cls)
    assert finding is not None and finding.fix == {"output_activation": "softmax"}
    ae = FIXED_AE.replace(loss="categorical_crossentropy")
    assert doctor.cce_on_sigmoid(ae).fix == {"loss": "binary_crossentropy"}
    assert doctor.cce_on_sigmoid(CLASSIFIER) is None


def test_squared_error_towards_targets_the_output_cannot_reach():
    raw_mse = PRESETS["autoencoder-sigmoid-mse"].replace(pixels="raw")
    assert "unreachable-targets" in ids(raw_mse)
    assert "unreachable-targets" not in ids(raw_mse.replace(output_activation="linear"))


def test_raw_inputs_to_a_classifier():
    assert "raw-inputs" in ids(CLASSIFIER.replace(pixels="raw"))
    assert "raw-inputs" not in ids(CLASSIFIER)


def test_every_explanation_is_two_sentences_and_every_fix_cures_its_finding():
    configs = [SEED, PRESETS["autoencoder-sigmoid-mse"], PRESETS["classifier-mse"],
               CLASSIFIER.replace(output_activation="sigmoid"), CLASSIFIER.replace(pixels="raw"),
               FIXED_AE.replace(output_activation="linear"), PRESETS["autoencoder-sigmoid-mse"].replace(pixels="raw")]
    seen = set()
    for config in configs:
        for finding in doctor.diagnose(config):
            seen.add(finding.id)
            sentences = [s for s in finding.explanation.replace("e.g.", "eg").split(". ") if s.strip()]
            assert len(sentences) == 2, (finding.id, finding.explanation)
            assert finding.fix and finding.fix_label
            assert finding.id not in ids(doctor.apply_fix(config, finding))
        assert doctor.diagnose(click_fixes_until_clean(config)) == []
    assert seen == {rule(c).id for rule in doctor.RULES for c in configs if rule(c)}
    assert len(seen) == len(doctor.RULES)
