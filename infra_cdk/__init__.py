"""The Gridshare CDK app: `python -m infra_cdk.app` (see infra_cdk/README.md)."""
