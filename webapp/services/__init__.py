"""Flask-free services: paths, frames and plain values in, domain exceptions out."""
