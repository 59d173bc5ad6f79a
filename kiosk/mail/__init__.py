"""Email to account owners: confirmation codes at sign-up, notices after a reset by face,
a lock or a sign-up with a taken address (what happened, at which kiosk, when, what to do
if it was not them).

Emails are queued in the store (kiosk.store.mail) by the store jobs that decide them and
sent by :class:`~kiosk.mail.worker.MailWorker`, a thread of its own, through the SMTP relay
of the ``mail`` config section with the standard ``smtplib``: a relay that is down,
refuses or does not answer delays an email (retried with backoff), never the screen.
"""
