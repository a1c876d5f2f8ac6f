"""SQS on this machine: ElasticMQ in its own java process, on a free loopback port.

ElasticMQ is fetched with Maven once (its jars land in Maven's local repository) and its
classpath is cached next to the Keycloak download. Queues are created through the SQS API, as
the template's are, so the same code creates them here and on a real account.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from registrar_local.keycloak_server import cache_dir, free_port
from registrar_local.processes import ServerNotReady, run_quietly, stop_process, wait_until_ready
from registrar_local.sqs_client import REGION, sqs_client

ELASTICMQ_VERSION = os.environ.get("ELASTICMQ_VERSION", "1.6.11")
ELASTICMQ_ARTIFACT = "org.elasticmq:elasticmq-server_2.13"
MAIN_CLASS = "org.elasticmq.server.Main"
# The default dependency plugin (2.8) also resolves a test-scoped artifact that is not published.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
ACCOUNT_ID = "000000000000"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId>
  <artifactId>elasticmq-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def install(version: str = ELASTICMQ_VERSION) -> str:
    """ElasticMQ's classpath, resolved with Maven on first use and cached after."""
    home = cache_dir() / f"elasticmq-{version}"
    classpath_file = home / "classpath.txt"
    if classpath_file.exists():
        classpath = classpath_file.read_text(encoding="utf-8").strip()
        if all(Path(jar).exists() for jar in classpath.split(os.pathsep)):
            return classpath
    home.mkdir(parents=True, exist_ok=True)
    group, artifact = ELASTICMQ_ARTIFACT.split(":")
    with tempfile.TemporaryDirectory(prefix="elasticmq-pom-") as project:
        (Path(project) / "pom.xml").write_text(
            _POM.format(group=group, artifact=artifact, version=version), encoding="utf-8"
        )
        output = Path(project) / "classpath.txt"
        run_quietly(
            ["mvn", "-q", "-B", f"{DEPENDENCY_PLUGIN}:build-classpath", f"-Dmdep.outputFile={output}"], cwd=project
        )
        # Written whole, then renamed: a run stopped half-way leaves no truncated classpath behind.
        staged = home / f".classpath-{os.getpid()}.txt"
        shutil.copyfile(output, staged)
        staged.replace(classpath_file)
    return classpath_file.read_text(encoding="utf-8").strip()


def server_config(port: int) -> str:
    """ElasticMQ's configuration: SQS on loopback only, queue URLs and ARNs in the local region."""
    return f"""include classpath("application.conf")
node-address {{
  protocol = "http"
  host = "127.0.0.1"
  port = {port}
  context-path = ""
}}
rest-sqs {{
  enabled = true
  bind-port = {port}
  bind-hostname = "127.0.0.1"
  sqs-limits = strict
}}
rest-stats {{
  enabled = false
}}
generate-node-address = false
aws {{
  region = "{REGION}"
  accountId = "{ACCOUNT_ID}"
}}
"""


@dataclass
class ElasticMqServer:
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    config_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ElasticMqServer:
        classpath = install()
        log_path = self.log_path or cache_dir() / "logs" / f"elasticmq-{self.port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self.config_path = log_path.with_name(f"elasticmq-{self.port}.conf")
        self.config_path.write_text(server_config(self.port), encoding="utf-8")
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    "java",
                    "-Xss1m",
                    "-XX:+UseSerialGC",  # one small heap; the two cores go to Keycloak and the function
                    f"-Dconfig.file={self.config_path}",
                    "-cp",
                    classpath,
                    MAIN_CLASS,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until_ready(self.process, self._answers, "ElasticMQ", log_path, timeout)
        except ServerNotReady:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        try:
            requests.get(f"{self.url}/?Action=ListQueues", timeout=1)
        except requests.RequestException:
            return False
        return True

    def stop(self) -> None:
        stop_process(self.process, group=True)
        if self.config_path is not None:
            self.config_path.unlink(missing_ok=True)

    def sqs(self) -> Any:
        return sqs_client(self.url)
