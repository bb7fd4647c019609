"""The review page (/review/{token}): an admin reviews a post's digest beside the post's
sentences, edits it, restores what the gate dropped, saves revisions and publishes.

    access.py   the admin links: made for an admin, checked on every request (and CSRF)
    form.py     the page's form → the edited digest, the restored items, the problems
    html.py     the page
    routes.py   GET shows, POST saves, POST …/publish publishes
"""
