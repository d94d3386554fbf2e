# gunicorn's logconfig_dict recipe: JSON-ish access and error lines to files (the paths are the test's)
import os

bind = os.environ["TEST_BIND"]
workers = 1
accesslog = os.environ["TEST_ACCESS"]
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"}},
    "handlers": {
        "error_file": {"class": "logging.FileHandler", "formatter": "plain", "filename": os.environ["TEST_ERROR"]},
    },
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_file"], "propagate": False},
    },
}
