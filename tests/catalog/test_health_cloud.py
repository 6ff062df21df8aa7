"""Cloud verdicts from status-word tables, and extending the tables without code."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.health import Health, assess, register_state_table, unregister_state_tables
from portal.errors import FlightdeckError
from tests.catalog.health_builders import NOW, Obj, ago, case


def ec2(state: str, reason: str = "") -> Obj:
    obj: Obj = {
        "InstanceId": "i-0a1b2c3d4e5f",
        "InstanceType": "m6i.large",
        "State": {"Code": 16, "Name": state},
        "LaunchTime": ago(days=30),
    }
    if reason:
        obj["StateReason"] = {"Code": "Client.UserInitiatedShutdown", "Message": reason}
    return obj


def ecs_task(last: str, health: str = "HEALTHY", **extra: Any) -> Obj:
    return {
        "taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/shop/9f1e",
        "lastStatus": last,
        "desiredStatus": "RUNNING" if last == "RUNNING" else "STOPPED",
        "healthStatus": health,
        "launchType": "FARGATE",
        **extra,
    }


def ecs_service(running: int, desired: int, rollout: str = "COMPLETED") -> Obj:
    return {
        "serviceName": "checkout",
        "status": "ACTIVE",
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": 0,
        "deployments": [{"status": "PRIMARY", "rolloutState": rollout, "runningCount": running}],
        "events": [{"message": "(service checkout) has reached a steady state."}],
    }


CLOUD_CASES = [
    case(
        ec2("running"),
        "healthy",
        "Running",
        True,
        "State.Name is running",
        id="ec2-running",
        type="AWS::EC2::Instance",
    ),
    case(
        ec2("pending"),
        "unknown",
        "Pending",
        False,
        "State.Name is pending",
        id="ec2-pending",
        type="AWS::EC2::Instance",
    ),
    case(
        ec2("stopped", "Client.UserInitiatedShutdown: User initiated shutdown"),
        "unknown",
        "Stopped",
        True,
        "User initiated shutdown",
        id="ec2-stopped",
        type="AWS::EC2::Instance",
    ),
    case(
        ecs_task("RUNNING"),
        "healthy",
        "Running",
        True,
        "lastStatus is RUNNING",
        id="ecs-task-running",
        type="AWS::ECS::Task",
    ),
    case(
        ecs_task("RUNNING", "UNHEALTHY"),
        "unhealthy",
        "Unhealthy",
        False,
        "healthStatus is UNHEALTHY",
        id="ecs-task-unhealthy",
        type="AWS::ECS::Task",
    ),
    case(
        ecs_task("RUNNING", "UNKNOWN"),
        "healthy",
        "Running",
        True,
        "lastStatus is RUNNING",
        id="ecs-task-health-unknown-ignored",
        type="AWS::ECS::Task",
    ),
    case(
        ecs_task(
            "STOPPED",
            "UNKNOWN",
            stopCode="EssentialContainerExited",
            stoppedReason="Essential container in task exited",
            containers=[{"name": "app", "exitCode": 1, "reason": "OutOfMemoryError"}],
        ),
        "unhealthy",
        "Stopped",
        True,
        "container app exited with code 1: OutOfMemoryError",
        id="ecs-task-stopped-failed",
        type="AWS::ECS::Task",
    ),
    case(
        ecs_task(
            "STOPPED",
            "UNKNOWN",
            stopCode="EssentialContainerExited",
            containers=[{"name": "migrate", "exitCode": 0}],
        ),
        "healthy",
        "Stopped",
        True,
        "all containers exited 0",
        id="ecs-task-stopped-ok",
        type="AWS::ECS::Task",
    ),
    case(
        ecs_service(3, 3),
        "healthy",
        "Active",
        True,
        "3/3 tasks running",
        id="ecs-service-ok",
        type="AWS::ECS::Service",
    ),
    case(
        ecs_service(0, 3),
        "unhealthy",
        "Active",
        False,
        "0/3 tasks running",
        id="ecs-service-none-running",
        type="AWS::ECS::Service",
    ),
    case(
        ecs_service(2, 3),
        "warning",
        "Active",
        False,
        "2/3 tasks running",
        id="ecs-service-degraded",
        type="AWS::ECS::Service",
    ),
    case(
        ecs_service(1, 3, "IN_PROGRESS"),
        "healthy",
        "In Progress",
        False,
        "has reached a steady state",
        id="ecs-service-rolling",
        type="AWS::ECS::Service",
    ),
    case(
        ecs_service(3, 3, "FAILED"),
        "unhealthy",
        "Failed",
        False,
        "steady state",
        id="ecs-service-rollout-failed",
        type="AWS::ECS::Service",
    ),
    case(
        {"DBInstanceIdentifier": "orders", "DBInstanceStatus": "available"},
        "healthy",
        "Available",
        True,
        "DBInstanceStatus is available",
        id="rds-available",
        type="AWS::RDS::DBInstance",
    ),
    case(
        {"DBInstanceIdentifier": "orders", "DBInstanceStatus": "storage-full"},
        "unhealthy",
        "Storage Full",
        False,
        "DBInstanceStatus is storage-full",
        id="rds-storage-full",
        type="AWS::RDS::DBInstance",
    ),
    case(
        {"DBInstanceIdentifier": "orders", "DBInstanceStatus": "modifying"},
        "healthy",
        "Modifying",
        False,
        "DBInstanceStatus is modifying",
        id="rds-modifying",
        type="AWS::RDS::DBInstance",
    ),
    case(
        {"StackName": "network", "StackStatus": "CREATE_COMPLETE"},
        "healthy",
        "Create Complete",
        True,
        "StackStatus is CREATE_COMPLETE",
        id="cfn-complete",
        type="AWS::CloudFormation::Stack",
    ),
    case(
        {
            "StackName": "network",
            "StackStatus": "UPDATE_ROLLBACK_COMPLETE",
            "StackStatusReason": "Resource update cancelled",
        },
        "warning",
        "Update Rollback Complete",
        True,
        "Resource update cancelled",
        id="cfn-update-rolled-back",
        type="AWS::CloudFormation::Stack",
    ),
    case(
        {"StackName": "network", "StackStatus": "ROLLBACK_COMPLETE"},
        "warning",
        "Rollback Complete",
        True,
        "StackStatus is ROLLBACK_COMPLETE",
        id="cfn-create-rolled-back",
        type="AWS::CloudFormation::Stack",
    ),
    case(
        {"name": "prod-eu", "status": "ACTIVE", "version": "1.30"},
        "healthy",
        "Active",
        True,
        "status is ACTIVE",
        id="eks-active",
        type="AWS::EKS::Cluster",
    ),
    case(
        {
            "name": "prod-eu",
            "status": "ACTIVE",
            "health": {
                "issues": [
                    {
                        "code": "Ec2SubnetInvalidConfiguration",
                        "message": "subnet-0a1 has no free IP addresses",
                    }
                ]
            },
        },
        "warning",
        "Active",
        True,
        "Ec2SubnetInvalidConfiguration: subnet-0a1 has no free IP",
        id="eks-health-issue",
        type="AWS::EKS::Cluster",
    ),
    case(
        {"FunctionName": "resize", "State": "Active", "LastUpdateStatus": "Successful"},
        "healthy",
        "Active",
        True,
        "State is Active",
        id="lambda-active",
        type="AWS::Lambda::Function",
    ),
    case(
        {
            "FunctionName": "resize",
            "State": "Active",
            "LastUpdateStatus": "Failed",
            "LastUpdateStatusReason": "The image manifest does not exist",
        },
        "warning",
        "UpdateFailed",
        True,
        "image manifest does not exist",
        id="lambda-update-failed",
        type="AWS::Lambda::Function",
    ),
    case(
        {"FunctionName": "resize", "State": "Failed", "StateReason": "The role is invalid"},
        "unhealthy",
        "Failed",
        True,
        "The role is invalid",
        id="lambda-failed",
        type="AWS::Lambda::Function",
    ),
    case(
        {"name": "web-1", "status": "RUNNING"},
        "healthy",
        "Running",
        True,
        "status is RUNNING",
        id="gce-running",
        type="GCP::Compute::Instance",
    ),
    case(
        {"name": "web-1", "status": "TERMINATED"},
        "unknown",
        "Stopped",
        True,
        "status is TERMINATED",
        id="gce-stopped",
        type="GCP::Compute::Instance",
    ),
    case(
        {"name": "web", "targetSize": 3, "status": {"isStable": False}},
        "unhealthy",
        "Degraded",
        False,
        "status.isStable is false",
        id="mig-unstable",
        type="GCP::Compute::InstanceGroupManager",
    ),
    case(
        {"name": "prod", "status": "RUNNING"},
        "healthy",
        "Running",
        True,
        "status is RUNNING",
        id="gke-running",
        type="GCP::Container::Cluster",
    ),
    case(
        {"name": "prod", "status": "ERROR", "statusMessage": "Node pool upgrade failed"},
        "unhealthy",
        "Error",
        False,
        "Node pool upgrade failed",
        id="gke-error",
        type="GCP::GKE::Cluster",
    ),
    case(
        {
            "name": "vm1",
            "properties": {
                "provisioningState": "Succeeded",
                "extended": {"instanceView": {"powerState": {"code": "PowerState/running"}}},
            },
        },
        "healthy",
        "Running",
        True,
        "properties.extended.instanceView.powerState.code is PowerState/running",
        id="azure-vm-running",
        type="Azure::Compute::VirtualMachine",
    ),
    case(
        {
            "name": "vm1",
            "properties": {
                "provisioningState": "Succeeded",
                "extended": {"instanceView": {"powerState": {"code": "PowerState/deallocated"}}},
            },
        },
        "unknown",
        "Deallocated",
        True,
        "powerState.code is PowerState/deallocated",
        id="azure-vm-deallocated",
        type="Azure::Compute::VirtualMachine",
    ),
    case(
        {"name": "vm1", "provisioningState": "Failed", "powerState": "VM running"},
        "unhealthy",
        "Failed",
        False,
        "provisioningState is Failed",
        id="azure-vm-failed",
        type="Azure::VirtualMachine",
    ),
    case(
        {"name": "vnet1", "properties": {"provisioningState": "Updating"}},
        "healthy",
        "Updating",
        False,
        "properties.provisioningState is Updating",
        id="azure-any-provisioning",
        type="Azure::Network::VirtualNetwork",
    ),
]


CASES = CLOUD_CASES


@pytest.mark.parametrize(("obj", "type_name", "health", "status", "ready", "message"), CASES)
def test_builtin_verdict(
    obj: Obj, type_name: str | None, health: str, status: str, ready: bool, message: str
) -> None:
    verdict = assess(obj, type_name, now=NOW)

    assert (verdict.health, verdict.status, verdict.ready) == (health, status, ready)
    assert message in verdict.message


@pytest.fixture
def clean_tables(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("FLIGHTDECK_HEALTH_STATE_FILES", raising=False)
    yield
    unregister_state_tables()


def test_registered_table_adds_a_type(clean_tables: None) -> None:
    register_state_table(
        {"Acme::Queue": {"fields": {"health": {"green": "healthy", "red": "unhealthy"}}}}
    )

    verdict = assess({"health": "RED"}, "Acme::Queue", NOW)

    assert (verdict.health, verdict.status, verdict.message) == (
        "unhealthy",
        "Red",
        "health is RED",
    )


def test_registered_table_adds_a_word_to_a_bundled_type(clean_tables: None) -> None:
    register_state_table(
        {
            "AWS::EC2::Instance": {
                "fields": {
                    "State.Name": {
                        "hibernating": {
                            "health": "warning",
                            "ready": False,
                            "status": "Hibernating",
                        },
                    }
                }
            }
        }
    )

    verdict = assess(ec2("hibernating"), "AWS::EC2::Instance", NOW)
    running_still = assess(ec2("running"), "AWS::EC2::Instance", NOW)

    assert (verdict.health, verdict.status, running_still.health) == (
        "warning",
        "Hibernating",
        "healthy",
    )


def test_state_files_from_the_environment(clean_tables: None, tmp_path, monkeypatch) -> None:
    table = tmp_path / "states.yaml"
    table.write_text(
        "Acme::Robot:\n"
        "  message: [lastError]\n"
        "  fields:\n"
        "    mode:\n"
        "      broken: {health: unhealthy, ready: true}\n"
    )
    monkeypatch.setenv("FLIGHTDECK_HEALTH_STATE_FILES", str(table))

    verdict = assess({"mode": "broken", "lastError": "arm jammed"}, "Acme::Robot", NOW)

    assert verdict == Health("unhealthy", "Broken", True, "arm jammed")


def test_bad_state_table_names_its_location(clean_tables: None) -> None:
    with pytest.raises(FlightdeckError, match=r"Acme::Queue\.health\.green"):
        register_state_table({"Acme::Queue": {"fields": {"health": {"green": "fine"}}}})


def test_missing_state_file_is_reported(clean_tables: None, monkeypatch) -> None:
    monkeypatch.setenv("FLIGHTDECK_HEALTH_STATE_FILES", "/nonexistent/states.yaml")

    with pytest.raises(FlightdeckError, match=r"/nonexistent/states\.yaml"):
        assess({"mode": "x"}, "Acme::Robot", NOW)
