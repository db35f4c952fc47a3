"""Identity context: the Cognito user pool (groups = roles), its tables (users, auth sessions, rate limits,
security events), the TOKEN authorizer and the identity API function, the KMS key that seals its secrets
at rest, and the narrow grant every other API function's route guard needs (`grant_route_guard`).

Pool rules come from gridshare.kernel.resources (USER_GROUPS, PASSWORD_POLICY, token validities), the same
facts the local stack gives moto's Cognito.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from gridshare.contexts import owned_tables
from gridshare.http.revocations import TokenRevocationModel
from gridshare.identity.models import AuthSessionModel, RateLimitModel, SecurityEventModel, UserModel
from gridshare.kernel import resources
from infra_cdk import constants
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "identity"
AUTHORIZER_HANDLER = "functions.identity.authorizer.handler"

# The IAM-governed calls the identity API makes (gridshare.identity.cognito): register adds the user to its
# group; verify-email confirms and marks the address verified; reset-password sets the new password;
# logout, reset and role changes sign the user out everywhere; admins change groups (roles) and
# enable/disable accounts. SignUp and InitiateAuth (password and refresh) are public Cognito APIs that
# IAM does not govern. AdminCreateUser is called only by `create_admin`, which runs from the CLI with
# operator credentials, never from the API, so the function does not get it. tests/infra compares this
# list with the adapter's source, so a new admin_* call cannot be deployed without its permission.
COGNITO_ADMIN_ACTIONS = (
    "cognito-idp:AdminAddUserToGroup",
    "cognito-idp:AdminConfirmSignUp",
    "cognito-idp:AdminDisableUser",
    "cognito-idp:AdminEnableUser",
    "cognito-idp:AdminRemoveUserFromGroup",
    "cognito-idp:AdminSetUserPassword",
    "cognito-idp:AdminUpdateUserAttributes",
    "cognito-idp:AdminUserGlobalSignOut",
)

# The identity API owns all four of its tables: users and 2FA state, refresh/2FA sessions, the lockout and
# throttling counters, and the security event log. The log is append-only (issue 4), so even its owner
# may only add entries (services.security_log.record: PutItem) and read them (/v1/security/*): IAM, not
# only the code, keeps an intruder in the function from rewriting or deleting the trail.
API_TABLES = {
    UserModel: Access.READ_WRITE,
    AuthSessionModel: Access.READ_WRITE,
    RateLimitModel: Access.READ_WRITE,
    SecurityEventModel: Access.READ_APPEND,
    TokenRevocationModel: Access.READ_WRITE,
}
# TOTP secrets and held-back refresh tokens are sealed with data keys of this context's own KMS key
# (gridshare.kernel.envelope): the identity API creates (GenerateDataKey) and opens (Decrypt) them, and
# nothing else may, so a table read alone (a backup, an export, another function's grant) reveals no secret.
SECRETS_KEY_ENV = "GS_SECRETS_KEY_ID"  # gridshare.kernel.settings.Settings.secrets_key_id
SECRETS_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")

# The authorizer refuses revoked tokens and disabled users (services.sessions.assert_token_current).
AUTHORIZER_TABLES = {UserModel: Access.READ, TokenRevocationModel: Access.READ}
# The route guard of every other API function (gridshare.http.api._authenticate): the revocation item
# (gridshare.http.revocations), and a `token_refused` security event when a presented token is refused (PutItem only).
ROUTE_GUARD_TABLES = {TokenRevocationModel: Access.READ, SecurityEventModel: Access.APPEND}


def password_policy(policy: dict[str, Any]) -> cognito.PasswordPolicy:
    """resources.PASSWORD_POLICY (Cognito API names) as the CDK type; an unknown key is an error, so a
    rule added to resources can never be silently dropped from the deployed pool."""
    known = {
        "MinimumLength",
        "RequireUppercase",
        "RequireLowercase",
        "RequireNumbers",
        "RequireSymbols",
        "TemporaryPasswordValidityDays",
    }
    unknown = set(policy) - known
    if unknown:
        raise ValueError(f"PASSWORD_POLICY keys infra_cdk does not map yet: {sorted(unknown)}")
    return cognito.PasswordPolicy(
        min_length=policy["MinimumLength"],
        require_uppercase=policy["RequireUppercase"],
        require_lowercase=policy["RequireLowercase"],
        require_digits=policy["RequireNumbers"],
        require_symbols=policy["RequireSymbols"],
        temp_password_validity=Duration.days(policy["TemporaryPasswordValidityDays"]),
    )


class IdentityContext(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, runtime: SharedRuntime, built: Mapping[str, Construct]
    ) -> None:
        super().__init__(scope, construct_id)
        settings = runtime.settings
        self.tables = tables_for(self, owned_tables(CONTEXT))

        # Usernames are our user ids (ULIDs); people sign in with their email through the alias.
        # Cognito sends no email of its own: the identity service mails and checks its own codes.
        self.user_pool = cognito.UserPool(
            self,
            "user-pool",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=False, phone=False),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True),
            ),
            password_policy=password_policy(resources.PASSWORD_POLICY),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for role, precedence in resources.USER_GROUPS:
            cognito.UserPoolGroup(
                self,
                f"group-{role}",
                user_pool=self.user_pool,
                group_name=role,
                precedence=precedence,
                description=f"Gridshare role '{role}' (lower precedence wins when a user is in several)",
            )
        # A public client (the API calls it on the user's behalf): no secret, password and refresh flows
        # only, no hosted-UI OAuth (CDK would otherwise enable it with an example.com callback).
        self.user_pool_client = self.user_pool.add_client(
            "api-client",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_password=True),
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=Duration.minutes(resources.ACCESS_TOKEN_MINUTES),
            id_token_validity=Duration.minutes(resources.ACCESS_TOKEN_MINUTES),
            refresh_token_validity=Duration.days(resources.REFRESH_TOKEN_DAYS),
        )

        # The authorizer verifies the token exactly as every protected route does again
        # (gridshare.http.auth): the pool's ids, and a read of the users table for revocation.
        self.authorizer_function = runtime.create_function(
            self,
            "authorizer",
            handler=AUTHORIZER_HANDLER,
            service="identity-authorizer",
            description="API Gateway TOKEN authorizer: verifies Cognito access tokens",
            timeout=Duration.seconds(constants.AUTHORIZER_TIMEOUT_S),
        )
        self.configure_token_verification(self.authorizer_function)
        grant_table_access(self.authorizer_function, self.tables, AUTHORIZER_TABLES)

        # Retained: deleting it would make every sealed secret unreadable (everyone would re-enrol 2FA).
        self.secrets_key = kms.Key(
            self,
            "secrets-key",
            description="Identity: seals TOTP secrets and pending 2FA logins at rest (envelope encryption)",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="identity-api",
            description="Identity routes: auth flows, 2FA, profile, user admin, security events",
            environment={
                "GS_EMAIL_SENDER": settings.email_sender,
                SECRETS_KEY_ENV: self.secrets_key.key_arn,
                **runtime.cursor_secret_environment(),  # users and security events are cursor-paginated
            },
        )
        self.configure_token_verification(self.api_function)
        grant_table_access(self.api_function, self.tables, API_TABLES)
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="CognitoAdminOnOwnPool",
                actions=list(COGNITO_ADMIN_ACTIONS),
                resources=[self.user_pool.user_pool_arn],
            )
        )
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="SealSecretsWithOwnKey",
                actions=list(SECRETS_KEY_ACTIONS),
                resources=[self.secrets_key.key_arn],
            )
        )
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="SendFromPlatformSender",
                actions=["ses:SendEmail"],
                # SES authorizes against the sender's identity (address or domain) and, in the sandbox, the
                # recipient's too; the condition pins the From address instead of naming identities.
                resources=[Stack.of(self).format_arn(service="ses", resource="identity", resource_name="*")],
                conditions={"StringEquals": {"ses:FromAddress": settings.email_sender}},
            )
        )

    def grant_route_guard(self, function: lambda_.Function) -> None:
        """What another context's API function needs to run the route guard on its protected routes: the
        pool's ids, read on token revocations (never users) and PutItem on security events."""
        self.configure_token_verification(function)
        grant_table_access(function, self.tables, ROUTE_GUARD_TABLES)

    def configure_token_verification(self, function: lambda_.Function) -> None:
        """Tell a function which pool and client issue the tokens it must accept (configuration only:
        verification uses the pool's public JWKS, no IAM permission)."""
        function.add_environment("GS_USER_POOL_ID", self.user_pool.user_pool_id)
        function.add_environment("GS_USER_POOL_CLIENT_ID", self.user_pool_client.user_pool_client_id)


CONSTRUCT = IdentityContext
