"""What every function shares: the `gridshare` layer, the functions' code, the Lambda defaults.

The layer and the code are staged with plain file copies at synth time rather than with Docker bundling
or `chalice package`: both need a network or a Docker daemon, and tests must synthesize offline
(FIELD-NOTES.md, CDK). Third-party packages are installed into the layer only when the CDK context
flag `bundle_dependencies` is true, which a real deployment needs and a test does not.

A deployment's layer and code carry their bytecode, compiled by an interpreter of the runtime's version
(`bytecode_interpreter`): Lambda's file system is read-only, so without it every cold start compiles every
module it imports from source, botocore's and pydantic's included (~5.5x the instructions of a cold start
with bytecode: bench/README.md). The `.pyc` files are hash-based and unchecked, because the asset's zip
does not keep the sources' modification times that a timestamp-based `.pyc` is validated against. The
layer's botocore data holds the services the functions use, minified and without documentation
(`infra_cdk.botocore_data`, decision 0036).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Annotations, Duration, Stack, Stage
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

import functions as functions_package
import gridshare as gridshare_package
from gridshare.kernel.resources import REPO_ROOT
from infra_cdk import constants
from infra_cdk.botocore_data import prepare_layer_data
from infra_cdk.settings import DeploySettings

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH  # = constants.LOG_RETENTION_DAYS
# What pip must fetch for the Lambda runtime, not for this machine: CPython 3.12 on Graviton.
_PIP_PLATFORM_ARGS = (
    "--platform",
    "manylinux2014_aarch64",
    "--platform",
    "manylinux_2_28_aarch64",
    "--implementation",
    "cp",
    "--python-version",
    RUNTIME.name.removeprefix("python"),
    "--only-binary=:all:",
)
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")


def bytecode_interpreter(version: str | None = None) -> str | None:
    """An interpreter of the Lambda runtime's Python version (`version`, default RUNTIME's, e.g. "3.12"):
    this one when it is that version, else `python3.12` on PATH; None when there is none."""
    version = version or RUNTIME.name.removeprefix("python")
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    return shutil.which(f"python{version}")


def compile_bytecode(root: Path, interpreter: str, *, strict: bool = True) -> None:
    """Write every module's `.pyc` under `root` with `interpreter` (its version's bytecode), hash-based and
    unchecked: used whatever modification times the deployed files get. `strict`: a file that does not
    compile fails the staging (ours); otherwise it is left to compile at import, if ever (a dependency's)."""
    subprocess.run(  # noqa: S603 - fixed argv: a Python interpreter's compileall over a staging directory
        [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(root)],
        check=strict,
        stdout=subprocess.DEVNULL,
    )


def runtime_dependencies() -> list[str]:
    """The layer's third-party requirements: pyproject's [project].dependencies, nothing added."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return list(project["dependencies"])


def stage_layer(outdir: Path, *, bundle_dependencies: bool, bytecode: str | None = None) -> Path:
    """Copy the gridshare package to <outdir>/layer/python/gridshare (Lambda adds python/ to sys.path), with
    the third-party packages when `bundle_dependencies` (botocore's data slimmed), and compile it all with
    `bytecode` (an interpreter of the runtime's version) when given.

    `gridshare/schemas/*.json` are symlinks into iot_rules/schemas/ (one schema for the rules and the
    validator); copytree(symlinks=False) copies the files they point to, so the layer holds real files.
    """
    root = outdir / constants.LAYER_STAGING_DIR
    if root.exists():
        shutil.rmtree(root)
    site = root / "python"
    shutil.copytree(Path(gridshare_package.__file__).parent, site / "gridshare", symlinks=False, ignore=_IGNORE)
    if bundle_dependencies:
        subprocess.run(  # noqa: S603 - fixed argv: this interpreter's pip and pyproject's requirements
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--upgrade",
                "--no-compile",  # this interpreter's bytecode is not the runtime's: `bytecode` compiles it
                "--target",
                str(site),
                *_PIP_PLATFORM_ARGS,
                *runtime_dependencies(),
            ],
            check=True,
        )
        botocore_data = site / "botocore" / "data"
        if botocore_data.is_dir():  # the services used, minified, without documentation: less to read
            prepare_layer_data(botocore_data)
    if bytecode is not None:
        compile_bytecode(site / "gridshare", bytecode)
        if bundle_dependencies:
            compile_bytecode(site, bytecode, strict=False)
    return root


def stage_functions(outdir: Path, *, bytecode: str | None = None) -> Path:
    """Copy functions/ to <outdir>/functions-src/functions, so handlers are `functions.<context>...`
    (compiled with `bytecode`, an interpreter of the runtime's version, when given)."""
    root = outdir / constants.FUNCTIONS_STAGING_DIR
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(Path(functions_package.__file__).parent, root / "functions", symlinks=False, ignore=_IGNORE)
    if bytecode is not None:
        compile_bytecode(root, bytecode)
    return root


class SharedRuntime(Construct):
    """The layer, the code asset, the cursor-signing secret, and a factory for uniform functions."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: DeploySettings) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        outdir = Path(Stage.of(self).outdir)
        # A deployment (dependencies bundled) ships bytecode when an interpreter of the runtime's version is
        # here; a test's synthesis stages sources only.
        bytecode = bytecode_interpreter() if settings.bundle_dependencies else None
        layer_dir = stage_layer(outdir, bundle_dependencies=settings.bundle_dependencies, bytecode=bytecode)
        self.layer = lambda_.LayerVersion(
            self,
            "gridshare-layer",
            code=lambda_.Code.from_asset(str(layer_dir)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="gridshare: domain, adapters, services, http (DESIGN.md section 2)",
        )
        self._functions_dir = str(stage_functions(outdir, bytecode=bytecode))
        self.code = lambda_.Code.from_asset(self._functions_dir)
        self._codes: dict[str, lambda_.Code] = {}  # a nested stack needs its own Code of the same files
        if not settings.bundle_dependencies:
            Annotations.of(self).add_warning_v2(
                "gridshare:layer-without-dependencies",
                "The layer holds only the gridshare package: deploy with -c bundle_dependencies=true, "
                "or the functions cannot import pydantic, chalice or pynamodb.",
            )
        elif bytecode is None:
            Annotations.of(self).add_warning_v2(
                "gridshare:layer-without-bytecode",
                f"No {RUNTIME.name} interpreter here to compile the layer and the functions: every cold start "
                "will compile each module it imports (~5x the CPU). Deploy from a machine with it on PATH.",
            )
        # Pagination cursors are HMAC-signed (gridshare.http.pagination) so a client cannot forge a key
        # into another user's partition; the code has no key of its own, so every function with a list
        # route needs this one (tests/infra checks it against the route table).
        self.cursor_secret = secretsmanager.Secret(
            self,
            "cursor-secret",
            description="HMAC key of Gridshare pagination cursors (GS_CURSOR_SECRET)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=48,
                exclude_punctuation=True,
            ),
        )

    def _code_for(self, scope: Construct) -> lambda_.Code:
        stack = Stack.of(scope)
        if stack is Stack.of(self):
            return self.code
        path = stack.node.path
        if path not in self._codes:
            self._codes[path] = lambda_.Code.from_asset(self._functions_dir)
        return self._codes[path]

    def cursor_secret_environment(self) -> dict[str, str]:
        """GS_CURSOR_SECRET as a CloudFormation dynamic reference: the value never enters the template."""
        return {"GS_CURSOR_SECRET": self.cursor_secret.secret_value.unsafe_unwrap()}

    def create_function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        service: str,
        description: str,
        timeout: Duration = Duration.seconds(constants.API_TIMEOUT_S),
        environment: Mapping[str, str] | None = None,
    ) -> lambda_.Function:
        """A function with the platform's defaults: Python 3.12 on arm64, the layer, X-Ray, Powertools
        settings, 512 MB, and its own log group with a retention (Lambda's default keeps logs forever).

        It starts with no permissions beyond its logs and X-Ray; each context construct adds its grants.
        """
        log_group = logs.LogGroup(scope, f"{construct_id}-logs", retention=LOG_RETENTION)
        return lambda_.Function(
            scope,
            construct_id,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=self._code_for(scope),
            handler=handler,
            layers=[self.layer],
            memory_size=constants.LAMBDA_MEMORY_MB,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            description=description,
            environment={
                "GS_STAGE": self.settings.stage,
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": constants.SERVICE_NAMESPACE,
                **(environment or {}),
            },
        )
