"""The IMS Export Portal.

The Celery app is loaded by `ims_portal.exports.apps` when Django starts (so that
`@shared_task` binds to it), not here: the simulator and the cloud client live in this
package too and must import without Django.
"""
