VALUE = "from layer/python"
