"""CloudFormation models for the HTTP API: AWS::ApiGatewayV2::Api, ::Integration, ::Route, ::Stage.

moto 5.2.5 implements the API Gateway v2 service but has no CloudFormation model for any of its
resource types. These models create the API, its integration, routes and stage through moto's
apigatewayv2 backend, so GetApis/GetRoutes/GetStages answer what the stack made.

Not emulated: the HTTP API "quick create" properties of AWS::ApiGatewayV2::Api (Target, RouteKey,
CredentialsArn) and Body/BodyS3Location imports; a template using them fails the resource.

Each model owns its type's create, in-place update and delete, and declares `replaced_by` (AWS's
"Update requires: Replacement" properties); whether an update replaces the resource is decided,
and the replacement carried out, by the engine (cfn_engine.py), not here.
"""

from __future__ import annotations

from typing import Any

from moto.apigatewayv2.models import ApiGatewayV2Backend, apigatewayv2_backends
from moto.core.common_models import CloudFormationModel

from .cfn_base import Env, StackResource, as_bool, ignore_missing, tag_map


def apis(env: Env) -> ApiGatewayV2Backend:
    return apigatewayv2_backends[env.account_id][env.region_name]


def camel(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """A settings object in the template's PascalCase -> the API's camelCase (one level; values kept)."""
    if settings is None:
        return None
    return {key[:1].lower() + key[1:]: value for key, value in settings.items()}


class Api(StackResource, CloudFormationModel):
    """AWS::ApiGatewayV2::Api: Ref is the API id."""

    cfn_type = "AWS::ApiGatewayV2::Api"
    replaced_by = ("ProtocolType",)
    getatts = ("ApiEndpoint", "ApiId")

    UNSUPPORTED = ("Target", "RouteKey", "CredentialsArn", "Body", "BodyS3Location")

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Api:
        unsupported = [p for p in cls.UNSUPPORTED if p in props]
        if unsupported:
            raise NotImplementedError(f"The emulator does not support {', '.join(unsupported)} on {cls.cfn_type}")
        api = apis(env).create_api(
            api_key_selection_expression=props.get("ApiKeySelectionExpression"),
            cors_configuration=camel(props.get("CorsConfiguration")),
            description=props.get("Description"),
            disable_schema_validation=props.get("DisableSchemaValidation"),
            disable_execute_api_endpoint=props.get("DisableExecuteApiEndpoint"),
            name=props["Name"],
            protocol_type=props["ProtocolType"],
            route_selection_expression=props.get("RouteSelectionExpression"),
            tags=tag_map(props.get("Tags")),
            version=props.get("Version"),
        )
        return cls(env, api.api_id, ApiEndpoint=api.api_endpoint, ApiId=api.api_id)

    def update(self, props: dict[str, Any]) -> None:
        api = apis(self.env).get_api(self.physical_resource_id)
        api.update(
            api_key_selection_expression=props.get("ApiKeySelectionExpression"),
            cors_configuration=camel(props.get("CorsConfiguration")),
            description=props.get("Description"),
            disable_schema_validation=props.get("DisableSchemaValidation"),
            disable_execute_api_endpoint=props.get("DisableExecuteApiEndpoint"),
            name=props["Name"],
            route_selection_expression=props.get("RouteSelectionExpression"),
            version=props.get("Version"),
        )
        if "CorsConfiguration" not in props:
            api.cors_configuration = None

    def remove(self) -> None:
        apis(self.env).delete_api(self.physical_resource_id)


def integration_settings(props: dict[str, Any]) -> dict[str, Any]:
    """The Integration properties as keyword arguments of moto's create/update_integration."""
    return {
        "connection_id": props.get("ConnectionId"),
        "connection_type": props.get("ConnectionType"),
        "content_handling_strategy": props.get("ContentHandlingStrategy"),
        "credentials_arn": props.get("CredentialsArn"),
        "description": props.get("Description"),
        "integration_method": props.get("IntegrationMethod"),
        "integration_subtype": props.get("IntegrationSubtype"),
        "integration_type": props["IntegrationType"],
        "integration_uri": props.get("IntegrationUri"),
        "passthrough_behavior": props.get("PassthroughBehavior"),
        "payload_format_version": props.get("PayloadFormatVersion"),
        "request_parameters": props.get("RequestParameters"),
        "request_templates": props.get("RequestTemplates"),
        "response_parameters": props.get("ResponseParameters"),
        "template_selection_expression": props.get("TemplateSelectionExpression"),
        "timeout_in_millis": props.get("TimeoutInMillis"),
        "tls_config": camel(props.get("TlsConfig")),
    }


class Integration(StackResource, CloudFormationModel):
    """AWS::ApiGatewayV2::Integration: Ref is the integration id."""

    cfn_type = "AWS::ApiGatewayV2::Integration"
    replaced_by = ("ApiId",)
    getatts = ("IntegrationId",)

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Integration:
        integration = apis(env).create_integration(api_id=props["ApiId"], **integration_settings(props))
        resource = cls(env, integration.id, IntegrationId=integration.id)
        resource.api_id = props["ApiId"]
        return resource

    def update(self, props: dict[str, Any]) -> None:
        apis(self.env).update_integration(
            api_id=self.api_id, integration_id=self.physical_resource_id, **integration_settings(props)
        )

    def remove(self) -> None:
        ignore_missing(apis(self.env).delete_integration, self.api_id, self.physical_resource_id)


def route_settings(props: dict[str, Any]) -> dict[str, Any]:
    """The Route properties as keyword arguments of moto's create/update_route."""
    return {
        "api_key_required": as_bool(props.get("ApiKeyRequired")),
        "authorization_scopes": props.get("AuthorizationScopes", []),
        "authorization_type": props.get("AuthorizationType", "NONE"),
        "authorizer_id": props.get("AuthorizerId"),
        "model_selection_expression": props.get("ModelSelectionExpression"),
        "operation_name": props.get("OperationName"),
        "request_models": props.get("RequestModels"),
        "request_parameters": props.get("RequestParameters"),
        "route_key": props["RouteKey"],
        "route_response_selection_expression": props.get("RouteResponseSelectionExpression"),
        "target": props.get("Target"),
    }


class Route(StackResource, CloudFormationModel):
    """AWS::ApiGatewayV2::Route: Ref is the route id."""

    cfn_type = "AWS::ApiGatewayV2::Route"
    replaced_by = ("ApiId",)
    getatts = ("RouteId",)

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Route:
        route = apis(env).create_route(api_id=props["ApiId"], **route_settings(props))
        resource = cls(env, route.route_id, RouteId=route.route_id)
        resource.api_id = props["ApiId"]
        return resource

    def update(self, props: dict[str, Any]) -> None:
        apis(self.env).update_route(api_id=self.api_id, route_id=self.physical_resource_id, **route_settings(props))
        route = apis(self.env).get_route(self.api_id, self.physical_resource_id)
        route.target = props.get("Target")  # moto's update keeps an old target when the new one is absent

    def remove(self) -> None:
        ignore_missing(apis(self.env).delete_route, self.api_id, self.physical_resource_id)


def stage_config(props: dict[str, Any]) -> dict[str, Any]:
    """The Stage properties as moto's create_stage config (the API's camelCase JSON shape)."""
    config: dict[str, Any] = {"stageName": props["StageName"]}
    if "AccessLogSettings" in props:
        config["accessLogSettings"] = camel(props["AccessLogSettings"])
    if "AutoDeploy" in props:
        config["autoDeploy"] = as_bool(props["AutoDeploy"])
    if "ClientCertificateId" in props:
        config["clientCertificateId"] = props["ClientCertificateId"]
    if "DefaultRouteSettings" in props:
        config["defaultRouteSettings"] = camel(props["DefaultRouteSettings"])
    if "Description" in props:
        config["description"] = props["Description"]
    if "DeploymentId" in props:
        config["deploymentId"] = props["DeploymentId"]
    if "RouteSettings" in props:
        # Keyed by route key ("POST /api/chat"); only the settings themselves change case.
        config["routeSettings"] = {key: camel(value) for key, value in props["RouteSettings"].items()}
    if "StageVariables" in props:
        config["stageVariables"] = props["StageVariables"]
    if "Tags" in props:
        config["tags"] = tag_map(props["Tags"])
    return config


class Stage(StackResource, CloudFormationModel):
    """AWS::ApiGatewayV2::Stage: Ref is the stage name."""

    cfn_type = "AWS::ApiGatewayV2::Stage"
    replaced_by = ("ApiId", "StageName")

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Stage:
        stage = apis(env).create_stage(props["ApiId"], stage_config(props))
        resource = cls(env, stage.name)
        resource.api_id = props["ApiId"]
        return resource

    def update(self, props: dict[str, Any]) -> None:
        # moto has no UpdateStage: build the stage anew from the config, keeping its creation date.
        api = apis(self.env).get_api(self.api_id)
        created = api.get_stage(self.physical_resource_id).created
        stage = api.create_stage(stage_config(props))
        stage.created = created

    def remove(self) -> None:
        ignore_missing(apis(self.env).delete_stage, self.api_id, self.physical_resource_id)


MODELS = [Api, Integration, Route, Stage]
