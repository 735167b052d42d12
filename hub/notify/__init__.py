"""Guardian notifications for the child watch.

Each guardian hears about their own children only, in their language, by LINE push,
e-mail or a signed webhook; and the city can broadcast emergencies to a school or ward.

- ``analytics.watch.events`` ``WatchEvent``, ``WatchEventKind``: what the notices are about
- ``hub.notify.policy``     pure ``decide``: dedup, once a day, rate limit, quiet hours
- ``hub.notify.templates``  Japanese and English texts
- ``hub.notify.channels``   ``LineChannel``, ``EmailChannel``, ``WebhookChannel``,
                            ``verify_webhook`` for receivers
- ``hub.storage.notifications``      the ``notifications`` table
- ``hub.notify.delivery``   the delivery worker thread (retries, backoff)
- ``hub.notify.service``    ``NotificationService``: the entry point

This package imports nothing on its own: import the module you need.
"""
