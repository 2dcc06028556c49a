import pytest

from recsys import config
from recsys.errors import ConfigError
from tests.support import REPO


def test_local_and_emr_configs_load():
    local = config.load(str(REPO / "conf" / "local.yaml"))
    emr = config.load(str(REPO / "conf" / "emr.yaml"))
    assert local.spark.master == "local[2]"
    assert emr.spark.master is None
    assert emr.warehouse.dir.startswith("s3://")
    # base values flow through both
    assert local.als.confidence == emr.als.confidence == "log"


@pytest.mark.parametrize(
    "override, message",
    [
        ("als.rnk=3", "als.rnk: unknown key; allowed keys here are: rank"),
        ("als.confidence=foo", "choose one of: raw, log, binary"),
        ("als.rank=0", "als.rank: 0 is below the minimum 1"),
        ("als.rank=ten", "als.rank: expected an integer"),
        ("hybrid.alpha=1.5", "hybrid.alpha: 1.5 is above the maximum 1.0"),
        ("spark.kryo=maybe", "spark.kryo: expected true or false"),
        ("nosuch.key=1", "nosuch: unknown key"),
        ("hybrid.alpha_curve=[[1, 2]]", "hybrid.alpha_curve[0]"),
        ("hybrid.fit.item_weights=[0.5, 1.5]", "hybrid.fit.item_weights[1]"),
        (
            "hybrid.fit.popularity_weights=[]",
            "hybrid.fit.popularity_weights: expected at least one",
        ),
        ("evaluation.ks=[10, 0]", "evaluation.ks[1]"),
        ("input.dir=", "input.dir: expected a non-empty string"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        config.load(str(REPO / "conf" / "local.yaml"), [override])
    assert message in str(err.value)


def test_overrides_parse_yaml_values():
    cfg = config.load(
        str(REPO / "conf" / "local.yaml"),
        ["input.dir=/data/raw", "als.rank=8", "als.reg_param=0.5", "evaluation.ks=[5, 20]"],
    )
    assert cfg.input.dir == "/data/raw"
    assert cfg.als.rank == 8 and isinstance(cfg.als.reg_param, float)
    assert cfg.evaluation.ks == [5, 20]
    assert cfg.replace("als.rank=4").als.rank == 4


def test_base_chain_and_errors(tmp_path):
    (tmp_path / "base.yaml").write_text("als:\n  rank: 7\n")
    (tmp_path / "env.yaml").write_text("base: base.yaml\nals:\n  max_iter: 3\n")
    cfg = config.load(str(tmp_path / "env.yaml"))
    assert (cfg.als.rank, cfg.als.max_iter) == (7, 3)
    (tmp_path / "bad.yaml").write_text("als: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        config.load(str(tmp_path / "bad.yaml"))
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        config.load(str(tmp_path / "missing.yaml"))
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="loops back"):
        config.load(str(tmp_path / "loop.yaml"))


def test_the_vector_api_is_added_to_the_java_options_not_instead_of_them(tmp_path):
    from recsys.session import VECTOR_MODULE, spark_settings
    from tests.support import make_config

    settings = spark_settings(make_config(tmp_path))
    assert VECTOR_MODULE in settings["spark.driver.extraJavaOptions"]
    assert VECTOR_MODULE in settings["spark.executor.extraJavaOptions"]
    mine = make_config(tmp_path, "spark.extra={'spark.driver.extraJavaOptions': '-Dx=1'}")
    assert spark_settings(mine)["spark.driver.extraJavaOptions"] == f"-Dx=1 {VECTOR_MODULE}"
    off = spark_settings(make_config(tmp_path, "spark.vector_api=false"))
    assert "spark.driver.extraJavaOptions" not in off
    # on a cluster the cluster's own java options stay: the launcher's variable carries it
    cluster = spark_settings(make_config(tmp_path, "spark.master=yarn"))
    assert "spark.executor.extraJavaOptions" not in cluster
    assert cluster["spark.executorEnv.JDK_JAVA_OPTIONS"] == VECTOR_MODULE


def test_neighbours_method_auto_picks_by_catalogue_size(tmp_path):
    from tests.support import make_config

    ncfg = make_config(tmp_path, "neighbours.auto_exact_below=1000").neighbours
    assert ncfg.method == "auto"
    assert (ncfg.method_for(999), ncfg.method_for(1000)) == ("exact", "lsh")
    forced = make_config(tmp_path, "neighbours.method=lsh").neighbours
    assert forced.method_for(10) == "lsh"


def test_the_emr_steps_and_the_session_name_the_same_vector_module():
    from recsys.emr import definitions
    from recsys.session import VECTOR_MODULE

    assert definitions.VECTOR_MODULE == VECTOR_MODULE


def test_spark_extra_settings_layer_key_by_key(tmp_path):
    """A file on a base adds to or changes the base's free-form Spark settings one by one (null
    drops one); ``--set spark.extra.<name>`` sets one setting whose name has dots."""
    from recsys import config
    from recsys.session import spark_settings
    from tests.support import REPO

    mine = tmp_path / "mine.yaml"
    mine.write_text(
        f"base: {REPO / 'conf' / 'local.yaml'}\n"
        "spark:\n"
        "  extra:\n"
        "    spark.jars: /opt/jars/a.jar\n"
        "    spark.executorEnv.OMP_NUM_THREADS: '2'\n"
        "    spark.ui.showConsoleProgress: null\n"
    )
    extra = config.load(str(mine)).spark.extra
    assert extra["spark.jars"] == "/opt/jars/a.jar"
    assert extra["spark.executorEnv.OMP_NUM_THREADS"] == "2"  # changed
    assert extra["spark.executorEnv.OPENBLAS_NUM_THREADS"] == "1"  # local.yaml's, kept
    assert "spark.ui.showConsoleProgress" not in extra  # dropped by null

    cfg = config.load(
        str(mine),
        ["spark.extra.spark.sql.adaptive.enabled=false", "spark.extra.spark.jars=null"],
    )
    settings = spark_settings(cfg)
    assert settings["spark.sql.adaptive.enabled"] == "false"
    assert "spark.jars" not in settings and "spark.jars" not in cfg.spark.extra
    assert settings["spark.executorEnv.OPENBLAS_NUM_THREADS"] == "1"
