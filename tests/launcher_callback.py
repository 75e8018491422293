"""A Hydra callback for tests: appends each job's status, as Hydra's callbacks see it, to a file."""
from hydra.experimental.callback import Callback


class RecordStatus(Callback):
    def __init__(self, path: str):
        self.path = path

    def on_job_end(self, config, job_return, **kwargs) -> None:
        with open(self.path, "a") as stream:
            stream.write(f"{job_return.status.name}\n")
