"""``botpenguin serve``: every deployment of ``prefect.yaml``, served from one process.

The simplest way to run the flows on one machine: no work pool and no worker, only this
process and a Prefect server. It builds the deployments from ``deployments/prefect.yaml``, so
names, descriptions, tags, parameters, schedules, triggers and concurrency limits are exactly
the ones ``prefect deploy`` registers; the work pool and the build/pull steps do not apply here
(flow runs are subprocesses of this process, started in its working directory: the repository
root), except the pools' environment variables (the heartbeat frequency), which this process
passes on to its runs.
Stopping the process (Ctrl-C) pauses the schedules until it is started again.

Serve *instead of* deploying to a work pool, not on top of it: Prefect updates an existing
pool deployment in place and leaves it unrunnable, so this refuses to start when one of the
names is already deployed to a pool, and names every one to delete. Deleting a deployment
leaves its triggers behind (Prefect keeps automations whose deployment is gone, and each fails
whenever its event comes), so before serving this removes those of ours: an automation named
like one of the triggers it registers whose deployment no longer exists.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow, get_client, serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.deployments.runner import RunnerDeployment
from prefect.events.actions import RunDeployment
from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from prefect.exceptions import ObjectNotFound
from prefect.schedules import Schedule
from prefect.types.entrypoint import EntrypointType
from pydantic import TypeAdapter

from ..core.errors import ConfigurationError

PREFECT_FILE = Path(__file__).with_name("prefect.yaml")


def load_deployment_specs(path: Path = PREFECT_FILE) -> list[dict[str, Any]]:
    """The ``deployments:`` entries of a prefect.yaml, with its YAML anchors resolved."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    specs = document.get("deployments") if isinstance(document, dict) else None
    if not isinstance(specs, list) or not all(isinstance(spec, dict) for spec in specs):
        raise ValueError(f"{path} has no 'deployments:' list; see Prefect's prefect.yaml format.")
    return specs


def load_flow(entrypoint: str) -> Flow[..., Any]:
    """Import a module-path entrypoint (``prefect_botpenguin.flows.report:segments_report``)."""
    path, _, name = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    candidate = getattr(module, name, None)
    if not isinstance(candidate, Flow):
        raise ValueError(f"Entrypoint {entrypoint!r} in {PREFECT_FILE.name} is not a flow.")
    return candidate


_TRIGGERS: TypeAdapter[DeploymentTriggerTypes] = TypeAdapter(DeploymentTriggerTypes)


def build_triggers(spec: dict[str, Any]) -> list[DeploymentTriggerTypes]:
    """A deployment entry's ``triggers:``, parsed and named exactly as ``prefect deploy`` does."""
    triggers = []
    for number, trigger in enumerate(spec.get("triggers") or [], start=1):
        trigger = {"name": f"{spec['name']}__automation_{number}", **trigger}
        triggers.append(_TRIGGERS.validate_python(trigger))
    return triggers


def pool_environment(specs: list[dict[str, Any]]) -> dict[str, str]:
    """The ``env`` job variables of every deployment's pool (the same for all, or an error)."""
    merged: dict[str, str] = {}
    for spec in specs:
        env = ((spec.get("work_pool") or {}).get("job_variables") or {}).get("env") or {}
        for name, value in env.items():
            if merged.setdefault(name, str(value)) != str(value):
                raise ValueError(
                    f"{PREFECT_FILE.name} sets {name} to different values for different "
                    "deployments; `botpenguin serve` runs them all in one environment."
                )
    return merged


def build_deployment(spec: dict[str, Any]) -> RunnerDeployment:
    """One ``prefect.yaml`` deployment entry as a deployment this process can serve."""
    limit = spec.get("concurrency_limit")
    return RunnerDeployment.from_flow(
        load_flow(spec["entrypoint"]),
        name=spec["name"],
        description=spec.get("description"),
        tags=spec.get("tags"),
        paused=spec.get("paused"),
        parameters=spec.get("parameters"),
        schedules=[Schedule(**schedule) for schedule in spec.get("schedules") or []],
        triggers=list(build_triggers(spec)),
        concurrency_limit=(
            ConcurrencyLimitConfig.model_validate(limit) if isinstance(limit, dict) else limit
        ),
        # Runs import the flow from the installed package, wherever this process was started:
        # Prefect's module-path form (``prefect_botpenguin.flows.report.segments_report``).
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def build_deployments(path: Path = PREFECT_FILE) -> list[RunnerDeployment]:
    """Every deployment of ``path``, in file order."""
    return [build_deployment(spec) for spec in load_deployment_specs(path)]


async def refuse_pool_deployments(deployments: list[RunnerDeployment]) -> None:
    """Raise ``ConfigurationError`` naming every one of ``deployments`` on a work pool."""
    on_pools: list[tuple[str, str]] = []
    async with get_client() as client:
        for deployment in deployments:
            name = f"{deployment.flow_name}/{deployment.name}"
            try:
                existing = await client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            if existing.work_pool_name:
                on_pools.append((name, existing.work_pool_name))
    if on_pools:
        pools = sorted({pool for _, pool in on_pools})
        raise ConfigurationError(
            f"Already deployed to work pool {', '.join(repr(pool) for pool in pools)}: "
            f"{', '.join(name for name, _ in on_pools)}. "
            "Serve instead of deploying, not on top: delete them first with "
            + "; ".join(f"`prefect deployment delete {name}`" for name, _ in on_pools)
            + " -- or keep using a worker."
        )


async def remove_orphaned_triggers(deployments: list[RunnerDeployment]) -> list[str]:
    """Delete our triggers left by deleted deployments; the names of those deleted.

    Only automations named like a trigger of ``deployments`` whose every run-deployment action
    names a deployment the server no longer has: they can never run anything again.
    """
    names = {
        name
        for deployment in deployments
        for trigger in deployment.triggers
        if isinstance(name := getattr(trigger, "name", None), str)  # deployment triggers
    }
    removed: list[str] = []
    async with get_client() as client:
        for name in sorted(names):
            for automation in await client.read_automations_by_name(name):
                targets = [
                    action.deployment_id
                    for action in automation.actions
                    if isinstance(action, RunDeployment) and action.deployment_id is not None
                ]
                if not targets:
                    continue
                missing = 0
                for deployment_id in targets:
                    try:
                        await client.read_deployment(deployment_id)
                    except ObjectNotFound:
                        missing += 1
                if missing == len(targets):
                    await client.delete_automation(automation.id)
                    removed.append(automation.name)
    return removed


def main(argv: list[str] | None = None) -> int:
    """Serve every deployment until interrupted; 1 when one is already on a work pool."""
    argparse.ArgumentParser(
        prog="python -m prefect_botpenguin.deployments.serve",
        description=(
            "Serve every deployment of deployments/prefect.yaml, with its schedule, "
            "from this process (no work pool or worker needed)."
        ),
    ).parse_args(argv)
    deployments = build_deployments()
    for name, value in pool_environment(load_deployment_specs()).items():
        os.environ.setdefault(name, value)  # flow runs are subprocesses: they inherit it
    try:
        asyncio.run(refuse_pool_deployments(deployments))
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in asyncio.run(remove_orphaned_triggers(deployments)):
        print(f"removed the trigger {name!r} of a deleted deployment")
    serve(*deployments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
