"""Pylon's entry point, as its users launch it: python main.py --config-filepath ./configs/<rel>.py [--debug]."""

import argparse
import importlib.util
import os
import sys


def load_config(path):
    spec = importlib.util.spec_from_file_location("config_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.config


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-filepath", required=True)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())
    config = load_config(args.config_filepath)
    config_list = config if isinstance(config, list) else [config]
    for config in config_list:
        if args.debug:
            config = dict(config, work_dir=config["work_dir"].replace("./logs/", "./logs/debug/", 1))
        config["runner"](config=config).run()


if __name__ == "__main__":
    main()
