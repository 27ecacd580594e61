"""One base exception for the catalogue; the server maps each kind to an HTTP status."""


class LayerError(Exception):
    """Base of every error the layers package raises on purpose; `field` names the bad input."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class UnknownLayer(LayerError):
    """No layer has this id."""


class BadTileRequest(LayerError):
    """z/x/y outside the valid or the layer's range, or not integers."""


class BadFilter(LayerError):
    """A filter value the layer does not know, or a malformed or inverted time window."""
