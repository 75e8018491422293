"""One job of the parallel launcher, in its own process: `python -m ...worker JOB_FILE RETURN_FILE`."""

import os
import pickle
import sys
from pathlib import Path


def main(job_file: str, return_file: str) -> None:
    """Run the pickled Hydra job as Hydra's own launchers do, and pickle its JobReturn for the launcher."""
    from hydra.core.singleton import Singleton
    from hydra.core.utils import run_job, setup_globals

    from omegaconf.basecontainer import BaseContainer

    job = pickle.loads(Path(job_file).read_bytes())  # imports the task's modules, which register their resolvers
    Singleton.set_state({**job["singleton_state"], "omegaconf_resolvers": BaseContainer._resolvers})
    setup_globals()
    result = run_job(hydra_context=job["hydra_context"], task_function=job["task_function"], config=job["config"],
                     job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
    if os.environ.get("RANK", "0") == "0":  # under torchrun (gpus_per_job > 1) rank 0 answers for the job
        temporary = Path(return_file + ".tmp")
        value = result._return_value
        try:
            pickle.dumps(value)
        except Exception:  # noqa: BLE001 - an exception that cannot travel is described in a line
            value = RuntimeError(f"{type(value).__name__}: {value}")
        # The status and value only: the launcher has the job's config, and Hydra's classes do not pickle across processes.
        temporary.write_bytes(pickle.dumps({"status": result.status, "value": value}))
        temporary.replace(return_file)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
