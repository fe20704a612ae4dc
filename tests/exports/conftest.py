import uuid

import pytest
from django.contrib.auth import get_user_model

from ims_portal.accounts.roles import AUDITOR, EXPORTER, set_roles
from ims_portal.exports.models import Export


@pytest.fixture
def make_user(db):
    def make(username: str, *roles: str):
        user = get_user_model().objects.create_user(
            username, f"{username}@example.com", "pw-" + username
        )
        set_roles(user, set(roles))
        return user

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice", EXPORTER)


@pytest.fixture
def bob(make_user):
    return make_user("bob", EXPORTER)


@pytest.fixture
def carol(make_user):
    return make_user("carol", AUDITOR)


@pytest.fixture
def make_export(db):
    def make(owner, **fields) -> Export:
        values = dict(
            image_id=str(uuid.uuid4()),
            image_name="web-01",
            image_size=20 * 1024**3,
            bucket="ims-exports",
            object_name="web-01.qcow2",
            file_format="qcow2",
        )
        values.update(fields)
        return Export.objects.create(owner=owner, **values)

    return make
