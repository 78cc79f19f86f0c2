"""Route modules; each is a Blueprint of thin handlers over app.services."""
