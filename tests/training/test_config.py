import dataclasses
import json
import re

import pytest

from tf_metarl.config import ConfigError, apply_overrides, validate_config
from tf_metarl.training.config import config_from_dict, load_config, make_config, run_config


def test_overrides_parse_with_field_types():
    config = make_config("dream", "map", "tiny")
    config = apply_overrides(config, ["agent.learning_rate=3e-4", "run.total_env_steps=2e5",
                                      "agent.q_hidden=64,32", "run.progress_bar=false",
                                      "env.eval_split=all"])
    assert config.agent.learning_rate == 3e-4
    assert config.run.total_env_steps == 200_000 and isinstance(config.run.total_env_steps, int)
    assert config.agent.q_hidden == (64, 32)
    assert config.run.progress_bar is False
    assert config.env.eval_split == "all"
    validate_config(config)


@pytest.mark.parametrize("preset, overrides, name", [
    ("distracting_bus_map", [], "held-out return"),
    ("distracting_bus_map", ["env.eval_split=train"], "evaluation return"),
    ("distracting_bus_map", ["env.eval_split=all"], "evaluation return"),
    ("distracting_bus_map", ["env.train_split=all"], "evaluation return"),  # test trained on
    ("map", [], "evaluation return"),  # no held-out split: test is every problem
    ("small_map", [], "evaluation return"),
])
def test_the_evaluation_return_is_held_out_only_on_problems_never_trained_on(preset, overrides, name):
    config = apply_overrides(make_config("dream", preset, "tiny"), overrides)
    assert config.env.eval_return_name() == name
    assert config.env.evaluates_held_out() == (name == "held-out return")
    assert ("held-out problems" == config.env.describe_eval_problems()) == (name == "held-out return")


def test_evaluation_problems_in_words():
    def words(preset, *overrides):
        return apply_overrides(make_config("dream", preset, "tiny"), list(overrides)).env.describe_eval_problems()
    assert words("distracting_bus_map") == "held-out problems"
    assert words("distracting_bus_map", "env.train_split=all") == (
        "'test' problems, trained on too (env.train_split='all')")
    assert words("distracting_bus_map", "env.eval_split=train") == "training problems"
    assert words("small_map") == "all problems (small_map has no held-out split)"
    # A layout file that has gone (an old run read elsewhere) is not called held-out.
    gone = apply_overrides(make_config("dream", "small_map", "tiny"), ["env.layout_file=/no/such.json"])
    assert gone.env.eval_return_name() == "evaluation return"


@pytest.mark.parametrize("override, message", [
    ("agent.learning_rat=1", "unknown config key 'agent.learning_rat'"),
    ("run.num_envs=many", "run.num_envs='many': expected an integer"),
    ("run.progress_bar=maybe", "expected a boolean"),
    ("agent=1", "names a section"),
    ("learning_rate", "expected the form key.path=value"),
])
def test_bad_overrides_name_the_problem(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        apply_overrides(make_config("dream", "map", "tiny"), [override])


@pytest.mark.parametrize("override, message", [
    ("run.num_envs=0", "run.num_envs=0: expected an integer >= 1"),
    ("agent.discount=1.5", "agent.discount=1.5"),
    ("agent.train_conditioning=both", "agent.train_conditioning='both'"),
    ("env.preset=huge", "env.preset='huge'"),
    ("agent.epsilon_end=-0.1", "agent.epsilon_end=-0.1"),
    # tiny: capacity 300; the exploration learner would wait for 301 episodes forever.
    ("agent.explore_learning_starts=301", "agent.explore_learning_starts=301 exceeds agent.replay_capacity=300"),
    # "> 0" holds for infinity; the type check refuses every non-finite number first.
    ("agent.learning_rate=inf", "agent.learning_rate=inf: expected a finite number"),
    ("agent.discount=nan", "agent.discount=nan: expected a finite number"),
])
def test_validation_rejects_out_of_range_values(override, message):
    config = apply_overrides(make_config("dream", "map", "tiny"), [override])
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_unknown_presets_and_algorithms():
    with pytest.raises(ConfigError, match="unknown algorithm 'dreamer'"):
        make_config("dreamer")
    with pytest.raises(ConfigError, match="unknown config preset 'huge'"):
        make_config("dream", config_preset="huge")


def test_paper_preset_starts_exploration_learning_as_dream_did_per_grid():
    assert make_config("dream", "distracting_bus_map", "paper").agent.explore_learning_starts == 8_000
    assert make_config("planning", "small_map", "paper").agent.explore_learning_starts == 2_000


@pytest.mark.parametrize("algorithm", ["dream", "gradient_embedder", "shared_representation",
                                       "planning", "e_rl2", "import", "varibad"])
def test_paper_preset_has_the_reference_substrate(algorithm):
    # The reference code squares the TD error, syncs targets every 5,000 env steps of the
    # agent (1,250 updates at one update per 4 steps) and uses PyTorch's Adam epsilon.
    agent = make_config(algorithm, "distracting_bus_map", "paper").agent
    assert agent.huber_delta <= 0
    assert agent.target_update_period * agent.update_period == 5_000
    assert agent.adam_epsilon == 1e-8


@pytest.mark.parametrize("algorithm", ["e_rl2", "import", "varibad"])
def test_baselines_paper_preset_is_the_reference_single_learner(algorithm):
    # configs/rl2.json (= import.json = varibad.json for these keys), also on small_map.
    for env_preset in ("distracting_bus_map", "small_map"):
        agent = make_config(algorithm, env_preset, "paper").agent
        assert (agent.replay_capacity, agent.learning_starts, agent.batch_size) == (16_000, 800, 32)
        assert (agent.epsilon_start, agent.epsilon_end, agent.epsilon_decay_steps) == (1.0, 0.01, 500_000)
        assert (agent.learning_rate, agent.grad_clip_norm, agent.lstm_units) == (1e-4, 10.0, 64)
        assert agent.explore_protocol == "tf_metarl"
    validate_config(make_config(algorithm, "map", "quick"))


def test_the_earlier_substrate_stays_reachable_by_overrides():
    config = run_config("dream", "distracting_bus_map", "paper", 0,
                        ["agent.huber_delta=1.0", "agent.target_update_period=5000",
                         "agent.adam_epsilon=1e-7"])
    assert (config.agent.huber_delta, config.agent.target_update_period,
            config.agent.adam_epsilon) == (1.0, 5_000, 1e-7)


def test_a_config_from_before_adam_epsilon_keeps_keras_default():
    data = dataclasses.asdict(make_config("dream", "small_map", "quick"))
    del data["agent"]["adam_epsilon"]
    assert config_from_dict(data).agent.adam_epsilon == 1e-7


def test_dict_round_trip():
    config = make_config("dream", "small_map", "quick")
    assert config_from_dict(dataclasses.asdict(config)) == config


def test_a_config_from_before_the_q_torso_fields_keeps_its_networks():
    # Such a config.json gave the exploration network the execution network's layers,
    # all with a ReLU; resuming or exporting that run must rebuild those networks.
    data = dataclasses.asdict(make_config("dream", "small_map", "quick"))
    del data["agent"]["explore_q_hidden"], data["agent"]["q_torso_relu_output"]
    old = config_from_dict(data)
    assert old.agent.explore_q_hidden == old.agent.q_hidden == (256, 64)
    assert old.agent.q_torso_relu_output is True
    new = make_config("dream", "small_map", "quick").agent
    assert (new.explore_q_hidden, new.q_torso_relu_output) == ((), False)


@pytest.mark.parametrize("field, value, message", [
    ("learning_rate", "fast", "agent.learning_rate='fast': expected a finite number"),
    ("learning_rate", True, "agent.learning_rate=True: expected a finite number"),
    ("replay_capacity", 1.5, "agent.replay_capacity=1.5: expected an integer"),
    ("q_hidden", [64, "wide"], "agent.q_hidden=(64, 'wide'): expected an integer for every item"),
])
def test_a_config_file_with_a_wrongly_typed_value_is_refused_naming_it(tmp_path, field, value, message):
    data = dataclasses.asdict(make_config("dream", "small_map", "tiny"))
    data["agent"][field] = value
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        load_config(str(tmp_path))
    assert str(tmp_path / "config.json") in str(error.value)


@pytest.mark.parametrize("override, flag", [
    ("run.seed=7", "--seed"), ("env.preset=small_map", "--env_preset"), ("algorithm=planning", "--algorithm")])
def test_overrides_of_what_a_flag_sets_are_refused(override, flag):
    with pytest.raises(ConfigError, match=re.escape(f"with {flag} (sweep.py: {flag}s), not --override or --grid")):
        run_config("dream", "map", "tiny", 0, [override])


def test_configs_and_flag_checks_do_not_start_tensorflow():
    """Every algorithm's config is built and checked, and launch/train.py refuses a bad
    override, without importing TensorFlow (so errors and --help come at once); the agent
    class still loads."""
    import pathlib
    import subprocess
    import sys
    train = pathlib.Path(__file__).resolve().parents[2] / "launch" / "train.py"
    code = ("import runpy, sys\n"
            "from tf_metarl.agents.registry import ALGORITHMS\n"
            "from tf_metarl.training.config import run_config\n"
            "for name in ALGORITHMS: run_config(name, 'small_map', 'tiny', 0)\n"
            f"sys.argv = ['train.py', '--override=agent.discount=2']\n"
            f"try: runpy.run_path({str(train)!r}, run_name='__main__')\n"
            "except SystemExit as e: print(e)\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
            "print(ALGORITHMS['planning'].agent_class.__name__)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["error: agent.discount=2.0: expected 0 <= discount <= 1",
                                          "PlanningAgent"]
