"""CloudFormation models for alarms and notifications: AWS::SNS::Topic, AWS::SNS::Subscription,
AWS::CloudWatch::Alarm and AWS::CloudWatch::Dashboard.

The gaps they fill in moto 5.2.5:
  * SNS::Topic is updated by deleting and recreating the topic (losing its subscriptions) and
    has no TopicArn attribute.
  * SNS::Subscription and CloudWatch::Alarm have no model at all.
  * CloudWatch::Dashboard fails a stack deletion when the dashboard is already gone.

Each model owns its type's create, in-place update and delete, and declares `replaced_by` (AWS's
"Update requires: Replacement" properties); whether an update replaces the resource is decided,
and the replacement carried out, by the engine (cfn_engine.py), not here.
"""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.models import CloudWatchBackend, Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.core.utils import camelcase_to_underscores
from moto.sns.models import SNSBackend, sns_backends

from .cfn_base import Env, StackResource, as_bool, as_int, as_json_text, tag_list, tag_map


def sns(env: Env) -> SNSBackend:
    return sns_backends[env.account_id][env.region_name]


def cloudwatch(env: Env) -> CloudWatchBackend:
    return cloudwatch_backends[env.account_id][env.region_name]


# Topic properties that are SNS topic attributes of the same name.
TOPIC_ATTRIBUTES = ("DisplayName", "KmsMasterKeyId", "SignatureVersion", "TracingConfig", "ContentBasedDeduplication")


def topic_attributes(props: dict[str, Any]) -> dict[str, str]:
    attributes = {name: str(props[name]) for name in TOPIC_ATTRIBUTES if name in props}
    if "ContentBasedDeduplication" in attributes:
        attributes["ContentBasedDeduplication"] = str(as_bool(props["ContentBasedDeduplication"])).lower()
    if as_bool(props.get("FifoTopic")):
        attributes["FifoTopic"] = "true"
    return attributes


class Topic(StackResource, CloudFormationModel):
    """AWS::SNS::Topic: Ref is the topic ARN; updated in place."""

    cfn_type = "AWS::SNS::Topic"
    name_property = "TopicName"
    replaced_by = ("TopicName", "FifoTopic")
    getatts = ("TopicArn", "TopicName")

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Topic:
        backend = sns(env)
        topic = backend.create_topic(name, topic_attributes(props), tag_map(props.get("Tags")) or None)
        try:
            for subscription in props.get("Subscription", []):
                backend.subscribe(topic.arn, subscription["Endpoint"], subscription["Protocol"])
        except Exception:
            backend.delete_topic(topic.arn)  # a failed create leaves nothing behind
            raise
        resource = cls(env, topic.arn, TopicArn=topic.arn, TopicName=topic.name)
        resource.props = props
        return resource

    def update(self, props: dict[str, Any]) -> None:
        topic = sns(self.env).get_topic(self.physical_resource_id)
        wanted = topic_attributes(props)
        for name in set(topic_attributes(self.props)) | set(wanted):
            setattr(topic, camelcase_to_underscores(name), wanted.get(name, ""))
        self.props = props

    def remove(self) -> None:
        sns(self.env).delete_topic(self.physical_resource_id)


class Subscription(StackResource, CloudFormationModel):
    """AWS::SNS::Subscription: Ref is the subscription ARN."""

    cfn_type = "AWS::SNS::Subscription"
    replaced_by = ("TopicArn", "Endpoint", "Protocol")

    SETTABLE = ("RawMessageDelivery", "DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy",
                "SubscriptionRoleArn")

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Subscription:
        subscription = sns(env).subscribe(props["TopicArn"], props["Endpoint"], props["Protocol"])
        resource = cls(env, subscription.arn)
        try:
            resource._set_attributes(props)
        except Exception:
            resource.remove()  # a failed create leaves nothing behind
            raise
        return resource

    def _set_attributes(self, props: dict[str, Any]) -> None:
        for name in self.SETTABLE:
            if name in props:
                value = props[name]
                value = str(as_bool(value)).lower() if name == "RawMessageDelivery" else as_json_text(value)
                sns(self.env).set_subscription_attributes(self.physical_resource_id, name, value)

    def update(self, props: dict[str, Any]) -> None:
        self._set_attributes(props)

    def remove(self) -> None:
        sns(self.env).unsubscribe(self.physical_resource_id)


def metric_data_queries(metrics: list[dict[str, Any]]) -> list[MetricDataQuery] | None:
    """Alarm Metrics (metric math) -> moto's MetricDataQuery objects, as its PutMetricAlarm builds them."""
    if not metrics:
        return None
    queries = []
    for metric in metrics:
        stat = None
        if "MetricStat" in metric:
            details = metric["MetricStat"]
            stat = MetricStat(
                metric=Metric(
                    metric_name=details["Metric"]["MetricName"],
                    namespace=details["Metric"].get("Namespace"),
                    dimensions=[Dimension(d["Name"], d["Value"]) for d in details["Metric"].get("Dimensions", [])],
                ),
                period=details.get("Period"),
                stat=details.get("Stat"),
                unit=details.get("Unit"),
            )
        queries.append(
            MetricDataQuery(
                query_id=metric["Id"],
                label=metric.get("Label"),
                period=metric.get("Period"),
                return_data=as_bool(metric.get("ReturnData"), default=True),
                expression=metric.get("Expression"),
                metric_stat=stat,
            )
        )
    return queries


class Alarm(StackResource, CloudFormationModel):
    """AWS::CloudWatch::Alarm: Ref is the alarm name, kept across updates (a stack update hands
    models a freshly generated name, which would otherwise rename the alarm)."""

    cfn_type = "AWS::CloudWatch::Alarm"
    name_property = "AlarmName"
    replaced_by = ("AlarmName",)
    getatts = ("Arn",)

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Alarm:
        alarm = cls._put(env, name, props)
        return cls(env, alarm.name, Arn=alarm.alarm_arn)

    @staticmethod
    def _put(env: Env, name: str, props: dict[str, Any]) -> Any:
        threshold = props.get("Threshold")
        return cloudwatch(env).put_metric_alarm(
            name=name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            metric_data_queries=metric_data_queries(props.get("Metrics", [])),
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=as_int(props["EvaluationPeriods"]),
            datapoints_to_alarm=as_int(props.get("DatapointsToAlarm")),
            period=as_int(props.get("Period")),
            threshold=float(threshold) if threshold is not None else None,
            statistic=props.get("Statistic"),
            extended_statistic=props.get("ExtendedStatistic"),
            description=props.get("AlarmDescription"),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in props.get("Dimensions", [])],
            alarm_actions=props.get("AlarmActions", []),
            ok_actions=props.get("OKActions", []),
            insufficient_data_actions=props.get("InsufficientDataActions", []),
            unit=props.get("Unit"),
            actions_enabled=as_bool(props.get("ActionsEnabled"), default=True),
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
            tags=tag_list(props.get("Tags")) or None,
        )

    def update(self, props: dict[str, Any]) -> None:
        self._put(self.env, self.physical_resource_id, props)

    def remove(self) -> None:
        cloudwatch(self.env).delete_alarms([self.physical_resource_id])


class Dashboard(StackResource, CloudFormationModel):
    """AWS::CloudWatch::Dashboard: Ref is the dashboard name."""

    cfn_type = "AWS::CloudWatch::Dashboard"
    name_property = "DashboardName"
    replaced_by = ("DashboardName",)

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Dashboard:
        dashboard = cloudwatch(env).put_dashboard(name=name, body=props["DashboardBody"])
        return cls(env, dashboard.name)

    def update(self, props: dict[str, Any]) -> None:
        cloudwatch(self.env).put_dashboard(name=self.physical_resource_id, body=props["DashboardBody"])

    def remove(self) -> None:
        # moto returns (not raises) "does not exist" for a missing dashboard: nothing to do then.
        cloudwatch(self.env).delete_dashboards([self.physical_resource_id])


MODELS = [Topic, Subscription, Alarm, Dashboard]
