"""The data-gathering agent with its tasks on a Dask cluster instead of local threads.

Point it at a running cluster (see README, "Running on a cluster"):

    dask scheduler                              # prints tcp://HOST:8786
    dask worker tcp://HOST:8786 --nworkers 2 --nthreads 2
    DASK_SCHEDULER_ADDRESS=tcp://HOST:8786 .venv/bin/python examples/cluster.py

Without DASK_SCHEDULER_ADDRESS it starts a LocalCluster of 2 worker processes x 2 threads.
Runs on the model named in .env (MODEL_ID, API_KEY, BASE_URL) or, without one, on the
scripted demo model.
"""

import os
from collections import Counter

from distributed import Client, LocalCluster

from async_task_system import create_async_agent
from async_task_system.demo import load_model, scenario
from async_task_system.executors import DaskExecutor


def main() -> None:
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    cluster = None if address else LocalCluster(n_workers=2, threads_per_worker=2, dashboard_address=":0")
    client = Client(address or cluster)
    client.wait_for_workers(1)
    executor = DaskExecutor(client)
    print(f"Cluster: {executor.describe()}, dashboard {client.dashboard_link}")

    gather = scenario("gather")
    model = load_model()
    if model is None:
        print("No MODEL_ID in .env: running on the scripted demo model (no LLM is called).")
        model = gather.demo_model()

    # Each tool call becomes one Dask task; priorities, limits, retries and timeouts stay local.
    with create_async_agent(tools=gather.tools(delay=0.5), model=model, max_workers=executor.capacity,
                            executor=executor) as agent:
        answer = agent.run_with_async_guidance(gather.task)
        tasks = sorted(agent.task_manager.tasks(), key=lambda t: t.created_at)

    for t in tasks:
        print(f"{t.id:4} {t.name:15} {t.status.value:10} ran {t.run_time or 0:4.1f}s")
    print(f"Status counts: {dict(Counter(t.status.value for t in tasks))}; "
          f"the run took {agent.last_run.wall_time:.1f}s with {agent.last_run.model_calls} model calls")
    print(f"Answer: {answer}")
    client.close()
    if cluster is not None:
        cluster.close()


if __name__ == "__main__":  # a process cluster re-imports this module in its workers
    main()
