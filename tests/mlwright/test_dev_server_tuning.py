"""The dev server's tuning flags follow the settings (bench/throughput.py and bench/overhead.py measured them)."""

from __future__ import annotations

from mlwright.devstack import tuning_args
from mlwright.settings import Settings


def dynamic_config(args: list[str]) -> dict[str, str]:
    values = [args[i + 1] for i, arg in enumerate(args) if arg == "--dynamic-config-value"]
    return dict(value.split("=", 1) for value in values)


def test_one_task_queue_partition_by_default_read_and_write_alike():
    config = dynamic_config(tuning_args(Settings()))
    assert config["matching.numTaskqueueReadPartitions"] == "1"
    assert config["matching.numTaskqueueWritePartitions"] == "1"


def test_partitions_follow_the_setting():
    config = dynamic_config(tuning_args(Settings(dev_task_queue_partitions=4)))
    assert (config["matching.numTaskqueueReadPartitions"], config["matching.numTaskqueueWritePartitions"]) == ("4", "4")
    assert config["history.transferProcessorMaxPollRPS"] == str(Settings().dev_transfer_poll_rps)


def test_the_dev_servers_search_attributes_are_the_sdk_keys_workflows_set():
    """The server's command line is built from a plain table (no SDK import before it starts)."""
    from mlwright import search_attributes, visibility

    assert search_attributes.TYPES == {k.name: visibility._TYPE[k.name] for k in visibility.ALL}
