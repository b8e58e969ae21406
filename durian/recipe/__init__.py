"""The verl recipe: configs, the inputs channel, estimators, trainer, patches, plugin and launcher."""
