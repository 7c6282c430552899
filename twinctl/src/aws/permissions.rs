//! The IAM actions twinctl needs, declared once, per operation it calls.
//!
//! [`CI`] is what the CI commands (deploy, diff, status, releases, rollback, logs, verify) call: the
//! deploy role in `templates/environment-access.yaml` grants exactly the actions listed here (a
//! test compares them), and every operation the emulator tests record must appear in one of the
//! lists. [`DESTROY`] is what `twinctl destroy --delete-data` calls beyond [`CI`], and
//! [`SET_SECRET`] is `twinctl secrets set`: the previews' deploy role (one for every
//! `{prefix}-{n}`) grants exactly [`preview_actions`], CI's and these; the staging and production
//! deploy roles never may. [`ADMIN_ONLY`] is what twinctl calls that every CI role deliberately
//! lacks.
//! [`ON_BEHALF_OF_THE_FUNCTION`] is what twinctl calls as the function's execution role, in the
//! Lambda service's place (shipping a locally run version's log lines): the function role and
//! its boundary grant it, never a CI role.
//!
//! Actions follow the Service Authorization Reference ("Actions, resources, and condition keys
//! for <service>"): e.g. HEAD Object is `s3:GetObject` (`s3:GetObjectVersion` with a versionId),
//! ListObjectsV2 is `s3:ListBucket`, ListObjectVersions is `s3:ListBucketVersions`, CopyObject
//! reads its source and writes its destination, Lambda's Invoke is `lambda:InvokeFunction`,
//! and a change set with a RoleARN also needs `iam:PassRole` on that role.
//! Must not: call AWS.

use std::collections::BTreeSet;

/// One operation (service as [`super::Aws`] names its clients, Smithy operation name) and the
/// IAM actions it needs.
#[derive(Debug)]
pub struct Needed {
    pub service: &'static str,
    pub operation: &'static str,
    pub actions: &'static [&'static str],
}

const fn op(service: &'static str, operation: &'static str, actions: &'static [&'static str]) -> Needed {
    Needed { service, operation, actions }
}

/// What CI runs twinctl for needs.
pub const CI: &[Needed] = &[
    // Identity: GetCallerIdentity needs no permission (the STS API reference says so).
    op("sts", "GetCallerIdentity", &[]),
    op("cloudformation", "DescribeStacks", &["cloudformation:DescribeStacks"]),
    op("cloudformation", "DescribeStackEvents", &["cloudformation:DescribeStackEvents"]),
    op("cloudformation", "ListStackResources", &["cloudformation:ListStackResources"]),
    op("cloudformation", "GetTemplate", &["cloudformation:GetTemplate"]),
    op("cloudformation", "CreateChangeSet", &["cloudformation:CreateChangeSet", "iam:PassRole"]),
    op("cloudformation", "DescribeChangeSet", &["cloudformation:DescribeChangeSet"]),
    op("cloudformation", "ExecuteChangeSet", &["cloudformation:ExecuteChangeSet"]),
    op("cloudformation", "DeleteChangeSet", &["cloudformation:DeleteChangeSet"]),
    // Approval-gated environments' stacks get termination protection on their first deploy.
    op("cloudformation", "UpdateTerminationProtection", &["cloudformation:UpdateTerminationProtection"]),
    op("s3", "GetObject", &["s3:GetObject", "s3:GetObjectVersion"]),
    op("s3", "HeadObject", &["s3:GetObject", "s3:GetObjectVersion"]),
    op("s3", "PutObject", &["s3:PutObject"]),
    op("s3", "CopyObject", &["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]),
    op("s3", "DeleteObject", &["s3:DeleteObject"]),
    op("s3", "ListObjectsV2", &["s3:ListBucket"]),
    op("s3", "ListObjectVersions", &["s3:ListBucketVersions"]),
    op("lambda", "GetFunction", &["lambda:GetFunction"]),
    op("lambda", "GetFunctionConfiguration", &["lambda:GetFunctionConfiguration"]),
    op("lambda", "GetAlias", &["lambda:GetAlias"]),
    op("lambda", "UpdateAlias", &["lambda:UpdateAlias"]),
    op("lambda", "PublishVersion", &["lambda:PublishVersion"]),
    op("lambda", "ListVersionsByFunction", &["lambda:ListVersionsByFunction"]),
    op("lambda", "Invoke", &["lambda:InvokeFunction"]),
    // Retention: only qualified ARNs (old versions), never the function.
    op("lambda", "DeleteFunction", &["lambda:DeleteFunction"]),
    op("cloudwatch", "DescribeAlarms", &["cloudwatch:DescribeAlarms"]),
    op("cloudwatch", "GetMetricData", &["cloudwatch:GetMetricData"]),
    op("cloudfront", "CreateInvalidation", &["cloudfront:CreateInvalidation"]),
    // The smoke test and canary probes carry CloudFront's origin header; the secret is
    // encrypted with the stack's key, so reading it also decrypts (through Secrets Manager only).
    op("secretsmanager", "GetSecretValue", &["secretsmanager:GetSecretValue", "kms:Decrypt"]),
    op("cloudfront", "GetInvalidation", &["cloudfront:GetInvalidation"]),
    // `verify`'s https-config steps: the distribution's viewer policies, certificate and OAC, and
    // the response headers policy's HSTS (CloudFront API reference, GetDistributionConfig and
    // GetResponseHeadersPolicyConfig; the IAM actions carry the operations' names).
    op("cloudfront", "GetDistributionConfig", &["cloudfront:GetDistributionConfig"]),
    op("cloudfront", "GetResponseHeadersPolicyConfig", &["cloudfront:GetResponseHeadersPolicyConfig"]),
    // `twinctl logs`: the function's log group only.
    op("logs", "FilterLogEvents", &["logs:FilterLogEvents"]),
    // `twinctl verify` (testplan/kinds/). Actions from the Service Authorization Reference:
    // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html — each
    // operation's API reference names the same action ("To use this operation, you must have the
    // s3:GetBucketPublicAccessBlock permission"; GetBucketEncryption: s3:GetEncryptionConfiguration).
    // s3 steps: a bucket's versioning, default encryption, public access block and TLS-only policy.
    op("s3", "GetBucketVersioning", &["s3:GetBucketVersioning"]),
    op("s3", "GetBucketEncryption", &["s3:GetEncryptionConfiguration"]),
    op("s3", "GetPublicAccessBlock", &["s3:GetBucketPublicAccessBlock"]),
    op("s3", "GetBucketPolicy", &["s3:GetBucketPolicy"]),
    // iam steps read the function role's inline and attached policies (read only):
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/list_awsidentityandaccessmanagementiam.html
    op("iam", "ListRolePolicies", &["iam:ListRolePolicies"]),
    op("iam", "GetRolePolicy", &["iam:GetRolePolicy"]),
    op("iam", "ListAttachedRolePolicies", &["iam:ListAttachedRolePolicies"]),
    op("iam", "GetPolicy", &["iam:GetPolicy"]),
    op("iam", "GetPolicyVersion", &["iam:GetPolicyVersion"]),
    // monitoring steps: the stack's dashboard exists
    // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
    op("cloudwatch", "GetDashboard", &["cloudwatch:GetDashboard"]),
    // secrets steps: which key encrypts each of the stack's secrets (never a value), and
    // `secrets status`. DescribeSecret: secretsmanager:DescribeSecret
    // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html).
    op("secretsmanager", "DescribeSecret", &["secretsmanager:DescribeSecret"]),
];

/// What `twinctl destroy --delete-data` calls that [`CI`] lacks: the previews' deploy role may
/// (CI destroys a preview when its pull request closes), the staging and production deploy roles
/// never may. Deploy's removal of a failed first create calls DeleteStack too: in CI, outside
/// previews, that stops with an error naming the stack instead.
pub const DESTROY: &[Needed] = &[
    op("cloudformation", "DeleteStack", &["cloudformation:DeleteStack"]),
    // The site bucket and, with --delete-data, the memory bucket are emptied of every version;
    // the retained data is deleted by its own APIs.
    op("s3", "DeleteObjects", &["s3:DeleteObject", "s3:DeleteObjectVersion"]),
    // HeadBucket is authorised as s3:ListBucket (S3 API reference, HeadBucket: Permissions).
    op("s3", "HeadBucket", &["s3:ListBucket"]),
    op("s3", "DeleteBucket", &["s3:DeleteBucket"]),
    op("secretsmanager", "DeleteSecret", &["secretsmanager:DeleteSecret"]),
    op("kms", "ScheduleKeyDeletion", &["kms:ScheduleKeyDeletion"]),
    op("logs", "DeleteLogGroup", &["logs:DeleteLogGroup"]),
];

/// What `twinctl secrets set` calls: a person sets an environment's model key, and no CI role of
/// staging or production may; the previews' role may, for a preview's own key (the preview
/// workflow sets it from a repository secret, as nobody sets a preview's key by hand).
/// PutSecretValue encrypts with the secret's key through Secrets Manager (kms:GenerateDataKey).
pub const SET_SECRET: &[Needed] =
    &[op("secretsmanager", "PutSecretValue", &["secretsmanager:PutSecretValue", "kms:GenerateDataKey"])];

/// What twinctl calls that no CI role may.
pub const ADMIN_ONLY: &[Needed] = &[
    // `status --drift`: CloudFormation reads every resource with the caller's credentials, which
    // the CI roles deliberately lack; `status --check` without it is CI's drift check.
    op(
        "cloudformation",
        "DetectStackDrift",
        &["cloudformation:DetectStackDrift", "cloudformation:DetectStackResourceDrift"],
    ),
    op("cloudformation", "DescribeStackDriftDetectionStatus", &["cloudformation:DescribeStackDriftDetectionStatus"]),
    op("cloudformation", "DescribeStackResourceDrifts", &["cloudformation:DescribeStackResourceDrifts"]),
];

/// What twinctl calls with a function's role session, as Lambda would for the function: a
/// version run locally against the emulator has its log lines written to its log group
/// (Lambda's stream naming, `local_function.rs`). The function role (`templates/twin.yaml`
/// WriteOwnLogs) and the boundary (`environment-access.yaml` FunctionLogs) grant these.
pub const ON_BEHALF_OF_THE_FUNCTION: &[Needed] =
    &[op("logs", "CreateLogStream", &["logs:CreateLogStream"]), op("logs", "PutLogEvents", &["logs:PutLogEvents"])];

/// The declared entry of an operation, if any.
pub fn lookup(service: &str, operation: &str) -> Option<&'static Needed> {
    CI.iter()
        .chain(DESTROY)
        .chain(SET_SECRET)
        .chain(ADMIN_ONLY)
        .chain(ON_BEHALF_OF_THE_FUNCTION)
        .find(|n| n.service == service && n.operation == operation)
}

/// Every IAM action twinctl uses as the function's role.
pub fn function_actions() -> BTreeSet<&'static str> {
    ON_BEHALF_OF_THE_FUNCTION.iter().flat_map(|n| n.actions.iter().copied()).collect()
}

/// Every IAM action the CI commands need.
pub fn ci_actions() -> BTreeSet<&'static str> {
    CI.iter().flat_map(|n| n.actions.iter().copied()).collect()
}

/// Every IAM action the previews' deploy role needs: the CI commands', `destroy --delete-data`'s
/// and `secrets set`'s.
pub fn preview_actions() -> BTreeSet<&'static str> {
    CI.iter().chain(DESTROY).chain(SET_SECRET).flat_map(|n| n.actions.iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup_action(action: &str) -> bool {
        CI.iter().chain(DESTROY).chain(SET_SECRET).chain(ADMIN_ONLY).any(|n| n.actions.contains(&action))
    }

    #[test]
    fn every_operation_is_declared_once_and_actions_are_service_prefixed() {
        let mut seen = BTreeSet::new();
        for needed in CI.iter().chain(DESTROY).chain(SET_SECRET).chain(ADMIN_ONLY).chain(ON_BEHALF_OF_THE_FUNCTION) {
            assert!(seen.insert((needed.service, needed.operation)), "{needed:?} declared twice");
            for action in needed.actions {
                let (service, name) = action.split_once(':').expect("service:Action");
                assert!(!service.is_empty() && name.chars().next().is_some_and(char::is_uppercase), "{action}");
                assert!(!action.contains('*'), "{action}: no wildcards");
            }
        }
        assert!(lookup("s3", "ListObjectsV2").is_some());
        assert!(lookup("s3", "PutBucketPolicy").is_none());
        for destructive in [
            "cloudformation:DeleteStack",
            "s3:DeleteBucket",
            "s3:DeleteObjectVersion",
            "secretsmanager:DeleteSecret",
            "kms:ScheduleKeyDeletion",
            "logs:DeleteLogGroup",
        ] {
            assert!(lookup_action(destructive), "{destructive} is declared (destroy)");
            assert!(!ci_actions().contains(destructive), "the staging and production CI roles never may {destructive}");
        }
        assert!(lookup("logs", "PutLogEvents").is_some(), "declared, on the function's behalf");
        assert!(!ci_actions().contains("logs:PutLogEvents"), "a CI role never writes the function's logs");
        assert!(function_actions().contains("logs:PutLogEvents"));
    }

    /// What `destroy --delete-data` and `secrets set` add to CI's actions, nothing else.
    const DELETIONS_AND_THE_KEY: [&str; 8] = [
        "cloudformation:DeleteStack",
        "kms:GenerateDataKey",
        "kms:ScheduleKeyDeletion",
        "logs:DeleteLogGroup",
        "s3:DeleteBucket",
        "s3:DeleteObjectVersion",
        "secretsmanager:DeleteSecret",
        "secretsmanager:PutSecretValue",
    ];

    #[test]
    fn the_previews_role_may_destroy_and_the_other_ci_roles_may_not() {
        let (ci, previews) = (ci_actions(), preview_actions());
        for needed in DESTROY {
            for action in needed.actions {
                assert!(previews.contains(action), "{}: {action} is not in preview_actions", needed.operation);
            }
        }
        assert!(ci.is_subset(&previews), "the previews' role runs every CI command too");
        let added: Vec<&str> = previews.difference(&ci).copied().collect();
        assert_eq!(added, DELETIONS_AND_THE_KEY, "preview_actions beyond ci_actions");
        for action in DELETIONS_AND_THE_KEY {
            assert!(!ci.contains(action), "the staging and production CI roles never may {action}");
        }
        for admin in ["cloudformation:DetectStackDrift", "cloudformation:DescribeStackResourceDrifts"] {
            assert!(!previews.contains(admin), "the previews' role never may {admin}");
        }
    }
}
