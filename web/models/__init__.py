"""The API's request and response models (pydantic), the one description of what the API takes
and gives: the views validate with them and ``/openapi.json`` is generated from them. Database
rows are elsewhere (``dispatcher.adapters.db.tables``)."""
