VALUE = "from the layer folder"
